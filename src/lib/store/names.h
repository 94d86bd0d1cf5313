// Private to store/: the text form of an address list in the addresses columns
// (space-separated; addresses are IP literals, which contain no spaces). The lookup key
// of a mon_name (monitors.mon_name_key) is the public store::NameKey (store.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nsm::store::internal {

std::string JoinAddresses(const std::vector<std::string>& addresses);
std::vector<std::string> SplitAddresses(std::string_view text);
// Appends to `to` each address of `from` that it lacks, keeping the order.
void MergeAddresses(std::vector<std::string>& to, const std::vector<std::string>& from);

}  // namespace nsm::store::internal
