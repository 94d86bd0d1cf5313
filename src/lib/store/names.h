// Private to store/: the lookup key of a mon_name (monitors.mon_name_key), which makes
// FindMonitorsByName case-insensitive and IP literals spelling-insensitive, and the
// text form of an address list in the addresses columns (space-separated; addresses
// are IP literals, which contain no spaces).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nsm::store::internal {

// The canonical IP text if `name` is an IP literal ("::FFFF:127.0.0.1" -> "127.0.0.1"),
// otherwise the name with ASCII letters lower-cased.
std::string NameKey(std::string_view name);

std::string JoinAddresses(const std::vector<std::string>& addresses);
std::vector<std::string> SplitAddresses(std::string_view text);
// Appends to `to` each address of `from` that it lacks, keeping the order.
void MergeAddresses(std::vector<std::string>& to, const std::vector<std::string>& from);

}  // namespace nsm::store::internal
