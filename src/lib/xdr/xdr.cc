// XDR primitives.
#include "xdr/xdr.h"

#include <cstring>

namespace nsm::xdr {

void Encoder::U32(uint32_t v) {
  out_->push_back(static_cast<uint8_t>(v >> 24));
  out_->push_back(static_cast<uint8_t>(v >> 16));
  out_->push_back(static_cast<uint8_t>(v >> 8));
  out_->push_back(static_cast<uint8_t>(v));
}

void Encoder::FixedOpaque(std::span<const uint8_t> data) {
  out_->insert(out_->end(), data.begin(), data.end());
  out_->resize(out_->size() + (Padded(data.size()) - data.size()), 0);
}

void Encoder::Opaque(std::span<const uint8_t> data) {
  U32(static_cast<uint32_t>(data.size()));
  FixedOpaque(data);
}

void Encoder::String(std::string_view s) {
  Opaque(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

bool Decoder::U32(uint32_t* v) {
  if (!ok_ || remaining() < 4) return Fail();
  const uint8_t* p = in_.data() + pos_;
  *v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  pos_ += 4;
  return true;
}

bool Decoder::I32(int32_t* v) {
  uint32_t u = 0;
  if (!U32(&u)) return false;
  *v = static_cast<int32_t>(u);
  return true;
}

bool Decoder::Bool(bool* v) {
  uint32_t u = 0;
  if (!U32(&u)) return false;
  if (u > 1) return Fail();
  *v = u == 1;
  return true;
}

bool Decoder::TakePadded(size_t n, const uint8_t** data) {
  if (!ok_) return false;
  size_t padded = Padded(n);
  if (padded < n || remaining() < padded) return Fail();
  *data = in_.data() + pos_;
  pos_ += padded;  // pad contents are ignored, as libtirpc and the kernel do
  return true;
}

bool Decoder::FixedOpaque(uint8_t* out, size_t n) {
  const uint8_t* p = nullptr;
  if (!TakePadded(n, &p)) return false;
  if (n != 0) std::memcpy(out, p, n);
  return true;
}

bool Decoder::Opaque(std::vector<uint8_t>* out, size_t max) {
  uint32_t n = 0;
  if (!U32(&n)) return false;
  if (n > max) return Fail();
  const uint8_t* p = nullptr;
  if (!TakePadded(n, &p)) return false;
  out->assign(p, p + n);
  return true;
}

bool Decoder::String(std::string* out, size_t max) {
  uint32_t n = 0;
  if (!U32(&n)) return false;
  if (n > max) return Fail();
  const uint8_t* p = nullptr;
  if (!TakePadded(n, &p)) return false;
  out->assign(reinterpret_cast<const char*>(p), n);
  return true;
}

bool Decoder::Skip(size_t n) {
  const uint8_t* p = nullptr;
  return TakePadded(n, &p);
}

}  // namespace nsm::xdr
