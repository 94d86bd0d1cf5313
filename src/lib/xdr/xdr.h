// XDR (RFC 4506) encoding and bounded decoding. The decoder never allocates more
// than the bytes actually present and never more than the caller's maximum for a
// variable-length item, so a hostile length field cannot make it allocate.
// Not thread-safe; cheap to construct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nsm::xdr {

class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>* out) : out_(out) {}
  void U32(uint32_t v);
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void Bool(bool v) { U32(v ? 1 : 0); }
  void FixedOpaque(std::span<const uint8_t> data);  // data + pad to 4
  void Opaque(std::span<const uint8_t> data);       // length + data + pad
  void String(std::string_view s);                  // length + bytes + pad
  size_t size() const { return out_->size(); }

 private:
  std::vector<uint8_t>* out_;
};

// Every getter returns false (and the decoder stays failed) when the input is short,
// or a length exceeds its maximum. Pad bytes are not checked (interoperability).
class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> in) : in_(in) {}
  bool U32(uint32_t* v);
  bool I32(int32_t* v);
  bool Bool(bool* v);
  bool FixedOpaque(uint8_t* out, size_t n);
  bool Opaque(std::vector<uint8_t>* out, size_t max);
  bool String(std::string* out, size_t max);
  bool Skip(size_t n);  // skips n bytes plus padding

  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  std::span<const uint8_t> Rest() const { return in_.subspan(pos_); }
  // True when ok and every byte was consumed.
  bool AtEnd() const { return ok_ && pos_ == in_.size(); }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  bool TakePadded(size_t n, const uint8_t** data);

  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

constexpr size_t Padded(size_t n) { return (n + 3) & ~static_cast<size_t>(3); }

}  // namespace nsm::xdr
