// Name rules of the store: ValidName (shared by every entry point) and the lookup key
// used for case-insensitive, canonical-IP matching of mon_names.
#include "store/names.h"

#include <algorithm>
#include <optional>

#include "net/address.h"
#include "store/store.h"

namespace nsm::store {

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 1024) return false;
  if (name.front() == '.') return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e || c == '/') return false;
  }
  return true;
}

std::string NameKey(std::string_view name) {
  if (std::optional<std::string> ip = net::CanonicalIp(name)) return *ip;
  std::string key(name);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

namespace internal {

std::string JoinAddresses(const std::vector<std::string>& addresses) {
  std::string out;
  for (const std::string& a : addresses) {
    if (!out.empty()) out.push_back(' ');
    out += a;
  }
  return out;
}

std::vector<std::string> SplitAddresses(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    if (end > pos) out.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

void MergeAddresses(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const std::string& a : from) {
    if (std::find(to.begin(), to.end(), a) == to.end()) to.push_back(a);
  }
}

}  // namespace internal
}  // namespace nsm::store
