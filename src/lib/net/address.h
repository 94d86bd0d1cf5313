// Address: an IPv4 or IPv6 socket address with port. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are folded to IPv4 by Normalized(), so that one peer has one
// spelling everywhere (store, matching, logs).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nsm::net {

class Address {
 public:
  Address();  // AF_UNSPEC, !valid()
  // From a socket address (AF_INET or AF_INET6); anything else gives !valid().
  static Address FromSockaddr(const sockaddr* sa, socklen_t len);
  // Parses a numeric presentation form ("192.0.2.1", "2001:db8::1", "fe80::1%lo").
  // No name lookups. Returns nullopt if text is not an IP literal.
  static std::optional<Address> Parse(std::string_view text, uint16_t port = 0);
  static Address Loopback4(uint16_t port = 0);
  static Address Loopback6(uint16_t port = 0);

  bool valid() const { return storage_.ss_family == AF_INET || storage_.ss_family == AF_INET6; }
  int family() const { return storage_.ss_family; }
  bool is_v4() const { return family() == AF_INET; }
  bool is_v6() const { return family() == AF_INET6; }
  uint16_t port() const;
  Address WithPort(uint16_t port) const;

  // ::ffff:a.b.c.d becomes a.b.c.d (port kept); other addresses unchanged.
  Address Normalized() const;
  // 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104.
  bool IsLoopback() const;

  // Presentation form without port ("192.0.2.1", "2001:db8::1").
  std::string ToString() const;
  // With port: "192.0.2.1:111", "[2001:db8::1]:111".
  std::string ToStringWithPort() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t sockaddr_len() const;

  // Equality compares family, address bytes, scope and port.
  bool operator==(const Address& o) const;
  bool SameHost(const Address& o) const;  // ignores port; compares Normalized() forms

 private:
  sockaddr_storage storage_;
};

// True if text is a numeric IPv4 or IPv6 literal.
bool IsIpLiteral(std::string_view text);

// Canonical text of an IP literal (normalised, lower case, compressed), or nullopt.
std::optional<std::string> CanonicalIp(std::string_view text);

}  // namespace nsm::net
