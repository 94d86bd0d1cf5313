// Small helpers shared by the real and fake resolvers: address normalisation and
// name folding.
#include <algorithm>

#include "resolver/resolver.h"
#include "resolver/resolver_internal.h"

namespace nsm::resolver {

Addresses NormalizeAddresses(std::span<const net::Address> in) {
  Addresses out;
  out.reserve(in.size());
  for (const auto& a : in) {
    if (!a.valid()) continue;
    net::Address n = a.Normalized().WithPort(0);
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

std::string LowerName(std::string_view name) {
  std::string s(name);
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace nsm::resolver
