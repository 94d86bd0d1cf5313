// NSM XDR codecs.
#include "proto/nsm.h"

#include "xdr/xdr.h"

namespace nsm::proto {
namespace {

Status Bad(const char* what) {
  return Status(Code::kInvalidArgument, std::string("cannot decode ") + what);
}

bool GetMyId(xdr::Decoder* d, MyId* id) {
  return d->String(&id->my_name, kSmMaxStrLen) && d->U32(&id->my_prog) && d->U32(&id->my_vers) &&
         d->U32(&id->my_proc);
}
bool GetMonId(xdr::Decoder* d, MonId* id) {
  return d->String(&id->mon_name, kSmMaxStrLen) && GetMyId(d, &id->my_id);
}
void PutMyId(xdr::Encoder* e, const MyId& id) {
  e->String(id.my_name);
  e->U32(id.my_prog);
  e->U32(id.my_vers);
  e->U32(id.my_proc);
}
void PutMonId(xdr::Encoder* e, const MonId& id) {
  e->String(id.mon_name);
  PutMyId(e, id.my_id);
}

template <class T, class F>
Result<T> DecodeWith(std::span<const uint8_t> in, const char* what, F get) {
  T v{};
  xdr::Decoder d(in);
  if (!get(&d, &v) || !d.AtEnd()) return Bad(what);
  return v;
}

}  // namespace

const char* ProcName(uint32_t proc) {
  switch (proc) {
    case kSmNull:
      return "NULL";
    case kSmStat:
      return "SM_STAT";
    case kSmMon:
      return "SM_MON";
    case kSmUnmon:
      return "SM_UNMON";
    case kSmUnmonAll:
      return "SM_UNMON_ALL";
    case kSmSimuCrash:
      return "SM_SIMU_CRASH";
    case kSmNotify:
      return "SM_NOTIFY";
  }
  return "unknown";
}

Result<std::string> DecodeSmName(std::span<const uint8_t> in) {
  return DecodeWith<std::string>(
      in, "sm_name", [](xdr::Decoder* d, std::string* s) { return d->String(s, kSmMaxStrLen); });
}
Result<MyId> DecodeMyId(std::span<const uint8_t> in) {
  return DecodeWith<MyId>(in, "my_id", GetMyId);
}
Result<MonId> DecodeMonId(std::span<const uint8_t> in) {
  return DecodeWith<MonId>(in, "mon_id", GetMonId);
}
Result<Mon> DecodeMon(std::span<const uint8_t> in) {
  return DecodeWith<Mon>(in, "mon", [](xdr::Decoder* d, Mon* m) {
    return GetMonId(d, &m->mon_id) && d->FixedOpaque(m->priv.data(), kPrivLen);
  });
}
Result<StatChge> DecodeStatChge(std::span<const uint8_t> in) {
  return DecodeWith<StatChge>(in, "stat_chge", [](xdr::Decoder* d, StatChge* s) {
    return d->String(&s->mon_name, kSmMaxStrLen) && d->I32(&s->state);
  });
}
Result<CallbackStatus> DecodeCallbackStatus(std::span<const uint8_t> in) {
  return DecodeWith<CallbackStatus>(in, "status", [](xdr::Decoder* d, CallbackStatus* s) {
    return d->String(&s->mon_name, kSmMaxStrLen) && d->I32(&s->state) &&
           d->FixedOpaque(s->priv.data(), kPrivLen);
  });
}
Result<SmStatRes> DecodeSmStatRes(std::span<const uint8_t> in) {
  return DecodeWith<SmStatRes>(in, "sm_stat_res", [](xdr::Decoder* d, SmStatRes* r) {
    return d->U32(&r->res) && d->I32(&r->state);
  });
}

std::vector<uint8_t> EncodeSmName(const std::string& name) {
  std::vector<uint8_t> out;
  xdr::Encoder(&out).String(name);
  return out;
}
std::vector<uint8_t> EncodeMyId(const MyId& id) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  PutMyId(&e, id);
  return out;
}
std::vector<uint8_t> EncodeMonId(const MonId& id) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  PutMonId(&e, id);
  return out;
}
std::vector<uint8_t> EncodeMon(const Mon& mon) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  PutMonId(&e, mon.mon_id);
  e.FixedOpaque(mon.priv);
  return out;
}
std::vector<uint8_t> EncodeStatChge(const StatChge& s) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  e.String(s.mon_name);
  e.I32(s.state);
  return out;
}
std::vector<uint8_t> EncodeCallbackStatus(const CallbackStatus& s) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  e.String(s.mon_name);
  e.I32(s.state);
  e.FixedOpaque(s.priv);
  return out;
}
std::vector<uint8_t> EncodeSmStatRes(StatRes res, int32_t state) {
  std::vector<uint8_t> out;
  xdr::Encoder e(&out);
  e.U32(res);
  e.I32(state);
  return out;
}
std::vector<uint8_t> EncodeSmStat(int32_t state) {
  std::vector<uint8_t> out;
  xdr::Encoder(&out).I32(state);
  return out;
}

}  // namespace nsm::proto
