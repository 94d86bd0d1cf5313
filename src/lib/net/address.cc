// Address parsing, formatting and normalisation (inet_pton/inet_ntop, no lookups).
#include "net/address.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstring>

namespace nsm::net {

Address::Address() { std::memset(&storage_, 0, sizeof storage_); }

Address Address::FromSockaddr(const sockaddr* sa, socklen_t len) {
  Address a;
  if (sa == nullptr) return a;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&a.storage_, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&a.storage_, sa, sizeof(sockaddr_in6));
  }
  return a;
}

std::optional<Address> Address::Parse(std::string_view text, uint16_t port) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN + IF_NAMESIZE) return std::nullopt;
  std::string s(text);
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  std::memset(&a.storage_, 0, sizeof a.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  std::string host = s;
  uint32_t scope = 0;
  if (auto pct = s.find('%'); pct != std::string::npos) {
    host = s.substr(0, pct);
    std::string zone = s.substr(pct + 1);
    if (zone.empty()) return std::nullopt;
    scope = if_nametoindex(zone.c_str());
    if (scope == 0) {
      char* end = nullptr;
      unsigned long n = std::strtoul(zone.c_str(), &end, 10);
      if (end == nullptr || *end != '\0' || n == 0 || n > 0xffffffffUL) return std::nullopt;
      scope = static_cast<uint32_t>(n);
    }
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) return std::nullopt;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  v6->sin6_scope_id = scope;
  return a;
}

Address Address::Loopback4(uint16_t port) { return *Parse("127.0.0.1", port); }
Address Address::Loopback6(uint16_t port) { return *Parse("::1", port); }

uint16_t Address::port() const {
  if (is_v4()) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (is_v6()) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

Address Address::WithPort(uint16_t port) const {
  Address a = *this;
  if (is_v4()) reinterpret_cast<sockaddr_in*>(&a.storage_)->sin_port = htons(port);
  if (is_v6()) reinterpret_cast<sockaddr_in6*>(&a.storage_)->sin6_port = htons(port);
  return a;
}

Address Address::Normalized() const {
  if (!is_v6()) return *this;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
  if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return *this;
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  v4->sin_family = AF_INET;
  v4->sin_port = v6->sin6_port;
  std::memcpy(&v4->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
  return a;
}

bool Address::IsLoopback() const {
  Address n = Normalized();
  if (n.is_v4()) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&n.storage_);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (n.is_v6()) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&n.storage_);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

std::string Address::ToString() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  if (is_v4()) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return buf;
  }
  if (is_v6()) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    std::string s = buf;
    if (v6->sin6_scope_id != 0) {
      char ifname[IF_NAMESIZE] = {0};
      if (if_indextoname(v6->sin6_scope_id, ifname) != nullptr) {
        s += std::string("%") + ifname;
      } else {
        s += "%" + std::to_string(v6->sin6_scope_id);
      }
    }
    return s;
  }
  return "(none)";
}

std::string Address::ToStringWithPort() const {
  if (is_v6()) return "[" + ToString() + "]:" + std::to_string(port());
  return ToString() + ":" + std::to_string(port());
}

socklen_t Address::sockaddr_len() const {
  if (is_v4()) return sizeof(sockaddr_in);
  if (is_v6()) return sizeof(sockaddr_in6);
  return 0;
}

bool Address::operator==(const Address& o) const {
  if (family() != o.family()) return false;
  if (is_v4()) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&storage_);
    const auto* b = reinterpret_cast<const sockaddr_in*>(&o.storage_);
    return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
  }
  if (is_v6()) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage_);
    const auto* b = reinterpret_cast<const sockaddr_in6*>(&o.storage_);
    return std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
           a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id;
  }
  return true;
}

bool Address::SameHost(const Address& o) const {
  return Normalized().WithPort(0) == o.Normalized().WithPort(0);
}

bool IsIpLiteral(std::string_view text) { return Address::Parse(text).has_value(); }

std::optional<std::string> CanonicalIp(std::string_view text) {
  auto a = Address::Parse(text);
  if (!a) return std::nullopt;
  return a->Normalized().ToString();
}

}  // namespace nsm::net
