// Safetensors reader (mmap + full header validation) and atomic writer. Format: safetensors.h.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader assumes a little-endian host");

namespace {

using ojson = nlohmann::ordered_json;  // keeps header order, so tensors() is in file order

// A header larger than this is not a real checkpoint (the reference implementation uses the
// same 100 MB cap); refusing early avoids parsing garbage from a non-safetensors file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

template <typename T>
T load(const uint8_t* p) {  // tensor data need not be aligned, so copy rather than cast
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

// ---- reader --------------------------------------------------------------------------------

namespace {

uint64_t json_u64(const ojson& v, bool* ok) {
  *ok = v.is_number_integer() && (v.is_number_unsigned() || v.get<int64_t>() >= 0);
  return *ok ? v.get<uint64_t>() : 0;
}

TensorInfo parse_entry(const std::string& path, const std::string& name, const ojson& e,
                       uint64_t data_size) {
  const std::string where = "tensor " + name + ": ";
  if (!e.is_object()) fail(path, where + "header entry is not a JSON object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) fail(path, where + "header entry has no \"" + key + "\"");

  TensorInfo t;
  t.name = name;
  const ojson& dt = e.at("dtype");
  if (!dt.is_string()) fail(path, where + "\"dtype\" is not a string");
  if (!dtype_from_name(dt.get<std::string>(), &t.dtype))
    fail(path, where + "unknown dtype \"" + dt.get<std::string>() +
                   "\" (supported: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL)");

  const ojson& sh = e.at("shape");
  if (!sh.is_array()) fail(path, where + "\"shape\" is not an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const ojson& d : sh) {
    bool ok;
    uint64_t v = json_u64(d, &ok);
    if (!ok || v > static_cast<uint64_t>(INT64_MAX))
      fail(path, where + "\"shape\" has an entry that is not a non-negative integer: " + d.dump());
    t.shape.push_back(static_cast<int64_t>(v));
    overflow |= __builtin_mul_overflow(numel, v, &numel);
  }

  const ojson& off = e.at("data_offsets");
  bool ok0 = false, ok1 = false;
  if (off.is_array() && off.size() == 2) {
    t.begin = json_u64(off[0], &ok0);
    t.end = json_u64(off[1], &ok1);
  }
  if (!ok0 || !ok1 || t.begin > t.end)
    fail(path, where + "\"data_offsets\" must be two ascending non-negative integers, got " +
                   off.dump());
  if (t.end > data_size)
    fail(path, where + "data_offsets [" + std::to_string(t.begin) + "," + std::to_string(t.end) +
                   "] run past the end of the data section (" + std::to_string(data_size) +
                   " bytes); file truncated?");
  uint64_t want = 0;
  overflow |= __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(t.dtype)), &want);
  if (overflow || want != t.end - t.begin)
    fail(path, where + "shape " + shape_str(t.shape) + " with dtype " + dtype_name(t.dtype) +
                   " needs " + (overflow ? std::string("too many") : std::to_string(want)) +
                   " bytes but data_offsets span " + std::to_string(t.end - t.begin) + " bytes");
  return t;
}

// Two tensors sharing bytes means a corrupt header: writes through one would alias the other.
void check_no_overlap(const std::string& path, const std::vector<TensorInfo>& ts) {
  std::vector<const TensorInfo*> order;
  for (const TensorInfo& t : ts)
    if (t.end > t.begin) order.push_back(&t);  // empty tensors occupy no bytes
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const TensorInfo* reach = nullptr;  // the tensor ending furthest so far
  for (const TensorInfo* t : order) {
    if (reach && t->begin < reach->end)
      fail(path, "tensors " + reach->name + " [" + std::to_string(reach->begin) + "," +
                     std::to_string(reach->end) + ") and " + t->name + " [" +
                     std::to_string(t->begin) + "," + std::to_string(t->end) +
                     ") overlap in the data section; file corrupt");
    if (!reach || t->end > reach->end) reach = t;
  }
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& path) {
  if (size < 8)
    fail(path, "file is " + std::to_string(size) +
                   " bytes, too short for the 8-byte header length; truncated or not safetensors");
  const uint64_t n = load<uint64_t>(bytes);
  if (n > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(n) +
                   " bytes is absurdly large (limit 100 MB); not a safetensors file?");
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " bytes runs past the end of the file (" +
                   std::to_string(size) + " bytes); file truncated?");
  SafetensorsHeader h;
  h.data_offset = 8 + n;
  const uint64_t data_size = size - 8 - n;
  ojson header;
  try {
    header = ojson::parse(bytes + 8, bytes + 8 + n);
  } catch (const ojson::parse_error& e) {
    fail(path, "header is not valid JSON (error at header byte " + std::to_string(e.byte) +
                   "); file corrupt or not safetensors");
  } catch (const ojson::exception&) {  // out_of_range.406: a number beyond double's range
    fail(path, "header is not valid JSON (a number too large for a double); file corrupt or not safetensors");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object; not a safetensors file?");
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "\"__metadata__\" is not a JSON object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "\"__metadata__\" value for " + k + " is not a string");
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(path, name, entry, data_size));
  }
  check_no_overlap(path, h.tensors);
  return h;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  // check_input_file first: opening a FIFO would wait for a writer. Any size (mmapped, not read).
  check_input_file(path, std::numeric_limits<uint64_t>::max());
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(path, "file is " + std::to_string(size) +
                   " bytes, too short for the 8-byte header length; truncated or not safetensors");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) fail(path, std::string("cannot mmap: ") + std::strerror(err));
  map_ = static_cast<const uint8_t*>(p);
  map_size_ = size;
  try {
    SafetensorsHeader h = parse_safetensors_header(map_, size, path);
    data_ = map_ + h.data_offset;
    tensors_ = std::move(h.tensors);
    metadata_ = std::move(h.metadata);
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  } catch (...) {
    unmap();
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() { unmap(); }

void SafetensorsFile::unmap() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  map_ = nullptr;
  data_ = nullptr;
  map_size_ = 0;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)), map_(o.map_), map_size_(o.map_size_), data_(o.data_),
      tensors_(std::move(o.tensors_)), index_(std::move(o.index_)),
      metadata_(std::move(o.metadata_)) {
  o.map_ = nullptr;
  o.data_ = nullptr;
  o.map_size_ = 0;
}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = std::exchange(o.data_, nullptr);
    tensors_ = std::move(o.tensors_);
    index_ = std::move(o.index_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::require(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) fail(path_, "no tensor named " + name);
  return *t;
}

Tensor SafetensorsFile::read_f32(const std::string& name) const {
  const TensorInfo& t = require(name);
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16 &&
      t.dtype != DType::F64)
    fail(path_, "tensor " + name + " has dtype " + dtype_name(t.dtype) +
                    ", not a float dtype (F32/F16/BF16/F64): a weight must be a float tensor");
  Tensor out(t.shape);  // shape
  float* o = out.ptr();
  const uint8_t* src = bytes_of(t);
  const size_t n = out.data.size();
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(o, src, n * 4);
      break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) o[i] = f16_to_f32(load<uint16_t>(src + 2 * i));
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) o[i] = bf16_to_f32(load<uint16_t>(src + 2 * i));
      break;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<float>(load<double>(src + 8 * i));
      break;
    default:
      break;
  }
  return out;
}

void SafetensorsFile::release(const std::string& name) const {
  const TensorInfo& t = require(name);
  // Only whole pages inside the tensor: its neighbours may share the edge pages.
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(bytes_of(t)) + page - 1) / page * page;
  const uintptr_t hi = reinterpret_cast<uintptr_t>(bytes_of(t) + (t.end - t.begin)) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::vector<int64_t> SafetensorsFile::read_i64(const std::string& name) const {
  const TensorInfo& t = require(name);
  const size_t n = static_cast<size_t>(Tensor::numel_of(t.shape));
  const uint8_t* src = bytes_of(t);
  std::vector<int64_t> out(n);
  switch (t.dtype) {
    case DType::I64:
      if (n) std::memcpy(out.data(), src, n * 8);
      break;
    case DType::I32:
      for (size_t i = 0; i < n; ++i) out[i] = load<int32_t>(src + 4 * i);
      break;
    case DType::I16:
      for (size_t i = 0; i < n; ++i) out[i] = load<int16_t>(src + 2 * i);
      break;
    case DType::I8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(src[i]);
      break;
    case DType::U8:
      for (size_t i = 0; i < n; ++i) out[i] = src[i];
      break;
    case DType::BOOL:
      for (size_t i = 0; i < n; ++i) out[i] = src[i] != 0;
      break;
    default:
      fail(path_, "tensor " + name + " has dtype " + dtype_name(t.dtype) +
                      ", not an integer dtype (I64/I32/I16/I8/U8/BOOL)");
  }
  return out;
}

// ---- writer --------------------------------------------------------------------------------

namespace {

// The temp file is removed unless the write finished and was renamed into place.
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep && !path.empty()) ::unlink(path.c_str());
  }
};

void write_all(const std::string& path, int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail(path, std::string("write failed: ") + std::strerror(errno));
    c += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       DType dtype, const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSource> src;
  for (const auto& [name, t] : tensors) {
    if (!t) fail(path, "tensor " + name + " is null");
    if (static_cast<int64_t>(t->data.size()) != Tensor::numel_of(t->shape))
      fail(path, "tensor " + name + " has shape " + t->shape_str() + " but " +
                     std::to_string(t->data.size()) + " elements");
    src.push_back({name, t->shape, [t = t](int64_t b, int64_t n, float* out) {
                     std::memcpy(out, t->data.data() + b, static_cast<size_t>(n) * sizeof(float));
                   }});
  }
  write_safetensors(path, src, dtype, metadata);
}

void write_safetensors(const std::string& path, const std::vector<TensorSource>& tensors,
                       DType dtype, const std::map<std::string, std::string>& metadata) {
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
    fail(path, std::string("cannot write dtype ") + dtype_name(dtype) + "; use F32, F16 or BF16");
  const uint64_t esize = static_cast<uint64_t>(dtype_size(dtype));

  ojson header = ojson::object();
  if (!metadata.empty()) {
    ojson& m = header["__metadata__"];
    m = ojson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const TensorSource& t : tensors) {
    const std::string& name = t.name;
    if (name.empty() || name == "__metadata__")
      fail(path, "invalid tensor name \"" + name + "\"");
    if (!seen.insert(name).second) fail(path, "tensor " + name + " is listed twice");
    for (int64_t d : t.shape)
      if (d < 0) fail(path, "tensor " + name + " has a negative dimension " + shape_str(t.shape));
    uint64_t bytes = static_cast<uint64_t>(Tensor::numel_of(t.shape)) * esize;
    ojson e = ojson::object();
    e["dtype"] = dtype_name(dtype);
    e["shape"] = t.shape;
    e["data_offsets"] = ojson::array({offset, offset + bytes});
    header[name] = std::move(e);
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ojson::exception&) {
    fail(path, "a tensor name or metadata string is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section is 8-byte aligned
  const uint64_t hlen = text.size();

  static std::atomic<uint64_t> counter{0};
  TempFile tmp;
  tmp.path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (tmp.fd < 0) {
    int err = errno;
    tmp.path.clear();  // nothing of ours to remove
    fail(path, "cannot create temp file for writing: " + std::string(std::strerror(err)));
  }
  write_all(path, tmp.fd, &hlen, 8);
  write_all(path, tmp.fd, text.data(), text.size());
  std::vector<float> f32;
  std::vector<uint16_t> half;
  constexpr int64_t kChunk = 1 << 20;  // elements pulled and converted per write
  for (const TensorSource& t : tensors) {
    const int64_t n = Tensor::numel_of(t.shape);
    for (int64_t i = 0; i < n; i += kChunk) {
      const int64_t m = std::min(kChunk, n - i);
      f32.resize(static_cast<size_t>(m));
      t.read(i, m, f32.data());
      if (dtype == DType::F32) {
        write_all(path, tmp.fd, f32.data(), static_cast<size_t>(m) * 4);
        continue;
      }
      half.resize(static_cast<size_t>(m));
      if (dtype == DType::BF16) narrow_to_bf16(half.data(), f32.data(), m);
      else
        for (int64_t j = 0; j < m; ++j) half[j] = f32_to_f16(f32[j]);
      write_all(path, tmp.fd, half.data(), static_cast<size_t>(m) * 2);
    }
  }
  if (::fsync(tmp.fd) != 0) fail(path, std::string("fsync failed: ") + std::strerror(errno));
  int rc = ::close(tmp.fd);
  tmp.fd = -1;
  if (rc != 0) fail(path, std::string("close failed: ") + std::strerror(errno));
  if (::rename(tmp.path.c_str(), path.c_str()) != 0)
    fail(path, std::string("cannot rename temp file into place: ") + std::strerror(errno));
  tmp.keep = true;
}

}  // namespace cs
