// Safetensors reader/writer and CheckpointFiles: fixtures, round trips, conversions, and
// corrupted files that must fail with a cs::Error naming the file and the problem.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "model/checkpoint_files.h"
#include "model/safetensors.h"
#include "ops/error.h"

namespace fs = std::filesystem;
using namespace cs;

namespace {

const std::string kData = CS_TEST_DATA;
const std::string kGpt2 = kData + "/gpt2-tiny/model.safetensors";
const std::string kNeox = kData + "/neox-tiny/model.safetensors";
const std::string kLlama = kData + "/llama-tiny";

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

// Runs f, expects a cs::Error, and checks its message holds every one of `needles`.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "expected cs::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const std::string& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "message \"" << msg << "\" lacks \"" << n << "\"";
  }
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cs_safetensors_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  // Writes raw bytes: 8-byte length, header text, data bytes. `len` overrides the length field.
  std::string raw(const std::string& name, const std::string& header, size_t data_bytes,
                  int64_t len = -1) {
    std::string p = file(name);
    std::ofstream out(p, std::ios::binary);
    uint64_t n = len < 0 ? header.size() : static_cast<uint64_t>(len);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << std::string(data_bytes, '\0');
    return p;
  }
  void write_bytes(const std::string& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
  }
  std::string dir_;
};

}  // namespace

// ---- fixtures --------------------------------------------------------------------------

TEST(Safetensors, ReadsGpt2TinyF32) {
  SafetensorsFile f(kGpt2);
  EXPECT_EQ(f.path(), kGpt2);
  EXPECT_EQ(f.tensors().size(), 40u);
  EXPECT_EQ(f.tensors()[0].name, "transformer.h.0.attn.c_attn.bias");  // header order
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const TensorInfo* t = f.find("transformer.h.0.attn.c_attn.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{64, 192}));
  EXPECT_EQ(t->begin, 768u);
  EXPECT_EQ(t->end, 49920u);
  EXPECT_EQ(f.find("no.such.tensor"), nullptr);

  Tensor w = f.read_f32("transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{64, 192}));
  // Values read with Python's struct module from the same file.
  EXPECT_EQ(w.data[0], 0.04038090631365776f);
  EXPECT_EQ(w.data[1], 0.11319199949502945f);
  EXPECT_EQ(w.data[193], 0.1664937436580658f);
  EXPECT_EQ(w.data.back(), -0.0252829622477293f);
  double sum = 0;
  for (float v : w.data) sum += v;
  EXPECT_NEAR(sum, -10.545283323843478, 1e-9);
  expect_error([&] { f.read_f32("no.such.tensor"); }, {kGpt2, "no tensor named no.such.tensor"});
}

TEST(Safetensors, ReadsNeoxTinyF16) {
  SafetensorsFile f(kNeox);
  EXPECT_EQ(f.tensors().size(), 28u);
  const TensorInfo* t = f.find("gpt_neox.embed_in.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F16);
  Tensor w = f.read_f32("gpt_neox.embed_in.weight");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{1000, 64}));
  EXPECT_EQ(w.data[0], -0.032867431640625f);
  EXPECT_EQ(w.data[1], -0.08917236328125f);
  EXPECT_EQ(w.data[65], -0.350341796875f);
  EXPECT_EQ(w.data.back(), 0.11993408203125f);
  double sum = 0;
  for (float v : w.data) sum += v;
  EXPECT_NEAR(sum, 22.666445553302765, 1e-9);
  expect_error([&] { f.read_i64("gpt_neox.embed_in.weight"); }, {kNeox, "not an integer dtype"});
}

TEST(Safetensors, ReadsShardedLlamaTinyBF16) {
  CheckpointFiles ck(kLlama);
  std::vector<std::string> names = ck.names();
  EXPECT_EQ(names.size(), 21u);
  EXPECT_EQ(names[0], "lm_head.weight");  // weight_map order
  EXPECT_TRUE(ck.has("model.norm.weight"));
  EXPECT_FALSE(ck.has("model.layers.9.mlp.up_proj.weight"));
  EXPECT_EQ(ck.find("model.layers.9.mlp.up_proj.weight"), nullptr);
  EXPECT_EQ(fs::path(ck.file_of("model.norm.weight")).filename(), "model-00004-of-00004.safetensors");
  EXPECT_EQ(fs::path(ck.file_of("lm_head.weight")).filename(), "model-00003-of-00004.safetensors");
  const TensorInfo* t = ck.find("model.norm.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::BF16);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{64}));

  Tensor e = ck.read_f32("model.embed_tokens.weight");
  EXPECT_EQ(e.shape, (std::vector<int64_t>{1000, 64}));
  EXPECT_EQ(e.data[0], -0.158203125f);
  EXPECT_EQ(e.data[1], -0.036376953125f);
  EXPECT_EQ(e.data[65], 0.059326171875f);
  EXPECT_EQ(e.data.back(), 0.041748046875f);
  double sum = 0;
  for (float v : e.data) sum += v;
  EXPECT_NEAR(sum, -6.5850231647491455, 1e-9);
  for (const std::string& n : names) EXPECT_EQ(ck.read_f32(n).shape, ck.find(n)->shape) << n;
  expect_error([&] { ck.read_f32("nope"); }, {kLlama, "no tensor named nope"});
  expect_error([&] { ck.file_of("nope"); }, {"nope"});
}

TEST(Safetensors, CheckpointFilesSingleFile) {
  CheckpointFiles ck(kData + "/gpt2-tiny");
  EXPECT_EQ(ck.names().size(), 40u);
  EXPECT_EQ(ck.file_of("transformer.h.0.attn.c_attn.weight"), kData + "/gpt2-tiny/model.safetensors");
  EXPECT_EQ(ck.read_f32("transformer.h.0.attn.c_attn.weight").data[193], 0.1664937436580658f);
}

TEST(Safetensors, MoveKeepsMappingAlive) {
  SafetensorsFile a(kNeox);
  SafetensorsFile b(std::move(a));
  EXPECT_EQ(b.read_f32("gpt_neox.embed_in.weight").data[0], -0.032867431640625f);
  SafetensorsFile c(kGpt2);
  c = std::move(b);
  EXPECT_EQ(c.path(), kNeox);
  EXPECT_EQ(c.read_f32("gpt_neox.embed_in.weight").data[1], -0.08917236328125f);
}

// ---- conversions -----------------------------------------------------------------------

// Naive reference straight from IEEE 754 binary16: (-1)^s * 2^(e-15) * 1.m, subnormals 2^-14 * 0.m.
static float naive_f16(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return static_cast<float>(s ? -v : v);
}

TEST(Conversions, AllF16PatternsMatchNaiveReference) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float got = f16_to_f32(static_cast<uint16_t>(h)), ref = naive_f16(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(got)) << h;
      ASSERT_EQ(std::signbit(got), std::signbit(ref)) << h;
      ASSERT_EQ(f32_to_f16(got) & 0x7e00, 0x7e00) << h;  // NaN back to a (quiet) NaN
      continue;
    }
    ASSERT_EQ(bits(got), bits(ref)) << "f16 bits " << h;
    ASSERT_EQ(f32_to_f16(got), h) << "round trip of f16 bits " << h;
  }
}

TEST(Conversions, F32ToF16RoundsToNearestEven) {
  // Between every pair of adjacent non-negative f16 values, the exact midpoint goes to the even
  // one and a nudge either way goes to the nearer one. The midpoint above 65504 is the overflow.
  for (uint16_t h = 0; h < 0x7c00; ++h) {
    double lo = naive_f16(h), hi = h + 1 == 0x7c00 ? 65536.0 : naive_f16(h + 1);
    float mid = static_cast<float>((lo + hi) / 2);  // exact: 12 significant bits fit in f32
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    uint16_t even = (h & 1) ? h + 1 : h;
    ASSERT_EQ(f32_to_f16(mid), even) << h;
    ASSERT_EQ(f32_to_f16(-mid), even | 0x8000) << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.0f)), h) << h;
    ASSERT_EQ(f32_to_f16(std::nextafter(mid, INFINITY)), h + 1) << h;
  }
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(-1e-30f), 0x8000);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

TEST(Conversions, BF16ExactAndRoundsToNearestEven) {
  for (uint32_t b = 0; b < 65536; ++b) {
    float got = bf16_to_f32(static_cast<uint16_t>(b));
    ASSERT_EQ(bits(got), b << 16);
    if (std::isnan(got)) {
      ASSERT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(got)))) << b;
      continue;
    }
    ASSERT_EQ(f32_to_bf16(got), b) << b;
    if ((b & 0x7fff) >= 0x7f80) continue;  // inf: no next value above
    uint32_t mid = (b << 16) | 0x8000;  // exact midpoint to the next bf16 away from zero
    uint16_t even = (b & 1) ? b + 1 : b;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid)), even) << b;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid - 1)), b) << b;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid + 1)), b + 1) << b;
  }
}

// ---- writer round trips ----------------------------------------------------------------

class RoundTrip : public TempDir {};

TEST_F(RoundTrip, F32F16BF16) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  Tensor a({3, 5, 7});
  for (float& v : a.data) v = nd(rng);
  a.data[0] = 1e-7f;   // f16 subnormal
  a.data[1] = 7e4f;    // f16 overflow -> inf
  a.data[2] = -0.0f;
  Tensor scalar(std::vector<int64_t>{});
  scalar.data[0] = 2.5f;
  Tensor empty({0, 4});
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "round trip"}};

  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    std::string p = file(std::string("rt_") + dtype_name(dt) + ".safetensors");
    write_safetensors(p, {{"a", &a}, {"s", &scalar}, {"e", &empty}}, dt, meta);
    SafetensorsFile f(p);
    EXPECT_EQ(f.metadata(), meta);
    ASSERT_EQ(f.tensors().size(), 3u);
    EXPECT_EQ(f.tensors()[0].name, "a");
    EXPECT_EQ(f.tensors()[2].name, "e");
    EXPECT_EQ(f.find("a")->dtype, dt);
    Tensor r = f.read_f32("a");
    ASSERT_EQ(r.shape, a.shape);
    for (size_t i = 0; i < a.data.size(); ++i) {
      float want = dt == DType::F32   ? a.data[i]
                   : dt == DType::F16 ? f16_to_f32(f32_to_f16(a.data[i]))
                                      : bf16_to_f32(f32_to_bf16(a.data[i]));
      ASSERT_EQ(bits(r.data[i]), bits(want)) << dtype_name(dt) << " element " << i;
    }
    Tensor s = f.read_f32("s");
    EXPECT_TRUE(s.shape.empty());
    EXPECT_EQ(std::vector<float>(s.data.begin(), s.data.end()), std::vector<float>{2.5f});
    Tensor e = f.read_f32("e");
    EXPECT_EQ(e.shape, (std::vector<int64_t>{0, 4}));
    EXPECT_TRUE(e.data.empty());
    // Overwriting in place works and leaves no temp files behind.
    write_safetensors(p, {{"s", &scalar}}, dt);
    EXPECT_EQ(SafetensorsFile(p).tensors().size(), 1u);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 3);
}

TEST_F(RoundTrip, WriterRejectsBadInput) {
  Tensor a({2, 2});
  Tensor bad({2, 2});
  bad.data.pop_back();
  std::string p = file("w.safetensors");
  expect_error([&] { write_safetensors(p, {{"a", &bad}}, DType::F32); }, {p, "shape [2,2] but 3"});
  expect_error([&] { write_safetensors(p, {{"a", &a}, {"a", &a}}, DType::F32); }, {p, "twice"});
  expect_error([&] { write_safetensors(p, {{"a", nullptr}}, DType::F32); }, {p, "null"});
  expect_error([&] { write_safetensors(p, {{"a", &a}}, DType::I64); }, {p, "I64"});
  std::string q = file("no/such/dir/w.safetensors");
  expect_error([&] { write_safetensors(q, {{"a", &a}}, DType::F32); }, {q, "cannot create"});
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(RoundTrip, ReadsIntegerDtypes) {
  std::string h = R"({"i":{"dtype":"I32","shape":[3],"data_offsets":[0,12]},)"
                  R"("l":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}})";
  std::string p = file("ints.safetensors");
  std::string bytes(8, '\0');
  uint64_t n = h.size();
  std::memcpy(bytes.data(), &n, 8);
  int32_t i32[3] = {-1, 2, 70000};
  int64_t i64 = -5000000000LL;
  std::string data(24, '\0');
  std::memcpy(data.data(), i32, 12);
  std::memcpy(data.data() + 16, &i64, 8);
  write_bytes(p, bytes + h + data);
  SafetensorsFile f(p);
  EXPECT_EQ(f.read_i64("i"), (std::vector<int64_t>{-1, 2, 70000}));
  EXPECT_EQ(f.read_i64("l"), (std::vector<int64_t>{-5000000000LL}));
  expect_error([&] { f.read_f32("i"); }, {p, "tensor i", "not a float dtype"});
}

// ---- corrupted files -------------------------------------------------------------------

class BadInput : public TempDir {};

TEST_F(BadInput, Truncated) {
  std::string p = file("short.safetensors");
  write_bytes(p, "abc");
  expect_error([&] { SafetensorsFile f(p); }, {p, "too short"});
  write_bytes(p, "");
  expect_error([&] { SafetensorsFile f(p); }, {p, "too short"});
  // A real checkpoint cut short: the header is intact but tensors run off the end.
  std::ifstream in(kGpt2, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string cut = file("cut.safetensors");
  write_bytes(cut, all.substr(0, 100000));
  expect_error([&] { SafetensorsFile f(cut); }, {cut, "past the end of the data section"});
  write_bytes(cut, all.substr(0, 1000));  // cut inside the header
  expect_error([&] { SafetensorsFile f(cut); }, {cut, "past the end of the file"});
}

TEST_F(BadInput, HeaderLength) {
  std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string p = raw("len.safetensors", h, 4, 100000);
  expect_error([&] { SafetensorsFile f(p); }, {p, "header length 100000", "past the end of the file"});
  p = raw("huge.safetensors", h, 4, int64_t{1} << 40);
  expect_error([&] { SafetensorsFile f(p); }, {p, "absurdly large"});
  p = raw("max.safetensors", h, 4, INT64_MAX);
  expect_error([&] { SafetensorsFile f(p); }, {p, "absurdly large"});
}

TEST_F(BadInput, HeaderNotJsonObject) {
  std::string p = raw("json.safetensors", R"({"a":{"dtype":"F32",)", 4);
  expect_error([&] { SafetensorsFile f(p); }, {p, "not valid JSON"});
  p = raw("bin.safetensors", std::string("\xff\xfe\x00\x01garbage", 11), 0);
  expect_error([&] { SafetensorsFile f(p); }, {p, "not valid JSON"});
  p = raw("arr.safetensors", "[1,2,3]", 0);
  expect_error([&] { SafetensorsFile f(p); }, {p, "not a JSON object"});
  p = raw("meta.safetensors", R"({"__metadata__":{"k":3}})", 0);
  expect_error([&] { SafetensorsFile f(p); }, {p, "__metadata__", "not a string"});
}

TEST_F(BadInput, EntryFields) {
  struct Case { std::string header, needle; };
  std::vector<Case> cases = {
      {R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "no \"dtype\""},
      {R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", "no \"shape\""},
      {R"({"w":{"dtype":"F32","shape":[1]}})", "no \"data_offsets\""},
      {R"({"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", "unknown dtype \"Q7\""},
      {R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", "not a string"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "not a non-negative integer"},
      {R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "not a non-negative integer"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "two ascending"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "two ascending"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", "two ascending"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}})", "two ascending"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,400]}})", "past the end of the data section"},
      {R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", "shape [2,3] with dtype F32 needs 24 bytes but data_offsets span 16"},
      {R"({"w":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", "too many"},
      {R"({"w":[1,2]})", "not a JSON object"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string p = raw("entry" + std::to_string(i) + ".safetensors", cases[i].header, 32);
    SCOPED_TRACE(cases[i].header);
    expect_error([&] { SafetensorsFile f(p); }, {p, "tensor w", cases[i].needle});
  }
}

TEST_F(BadInput, OverlappingOffsets) {
  std::string p = raw("overlap.safetensors",
                      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[20,28]},)"
                      R"("c":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                      32);
  expect_error([&] { SafetensorsFile f(p); }, {p, "tensors a [0,16) and c [8,16) overlap"});
  // Touching ranges and empty tensors are fine.
  p = raw("touch.safetensors",
          R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
          R"("z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
          24);
  EXPECT_EQ(SafetensorsFile(p).tensors().size(), 3u);
}

TEST_F(BadInput, CheckpointDirectories) {
  expect_error([&] { CheckpointFiles ck(dir_); }, {dir_, "model.safetensors", "model.safetensors.index.json"});
  std::string missing = file("nope");
  expect_error([&] { CheckpointFiles ck(missing); }, {missing, "not a directory"});

  // Index naming a shard that is absent.
  fs::path d1 = fs::path(dir_) / "absent";
  fs::create_directory(d1);
  std::ofstream(d1 / "model.safetensors.index.json") << R"({"weight_map":{"w":"model-1.safetensors"}})";
  expect_error([&] { CheckpointFiles ck(d1.string()); }, {"model.safetensors.index.json", "model-1.safetensors", "missing"});

  // Index naming a tensor its shard does not hold.
  fs::path d2 = fs::path(dir_) / "wrong";
  fs::create_directory(d2);
  Tensor a({2});
  write_safetensors((d2 / "model-1.safetensors").string(), {{"a", &a}}, DType::F32);
  std::ofstream(d2 / "model.safetensors.index.json")
      << R"({"weight_map":{"a":"model-1.safetensors","b":"model-1.safetensors"}})";
  expect_error([&] { CheckpointFiles ck(d2.string()); }, {"model.safetensors.index.json", "tensor b", "model-1.safetensors", "no such tensor"});

  // Index escaping the directory, and an index that is not JSON.
  std::ofstream(d2 / "model.safetensors.index.json") << R"({"weight_map":{"a":"../x.safetensors"}})";
  expect_error([&] { CheckpointFiles ck(d2.string()); }, {"../x.safetensors", "not a file inside"});
  std::ofstream(d2 / "model.safetensors.index.json") << "{oops";
  expect_error([&] { CheckpointFiles ck(d2.string()); }, {"model.safetensors.index.json", "not valid JSON"});

  // A corrupt shard fails at load time and names the shard.
  std::ofstream(d2 / "model.safetensors.index.json") << R"({"weight_map":{"a":"model-1.safetensors"}})";
  std::ofstream(d2 / "model-1.safetensors", std::ios::binary) << "xy";
  expect_error([&] { CheckpointFiles ck(d2.string()); }, {"model-1.safetensors", "too short"});
}

TEST_F(BadInput, NotARegularFile) {
  expect_error([&] { SafetensorsFile f(dir_); }, {dir_, "not a regular file"});
  std::string p = file("absent.safetensors");
  expect_error([&] { SafetensorsFile f(p); }, {p, "cannot open"});
}
