// Ground-truth circuit files: the loader; an accepted file must write back (ground_truth_to_json)
// to a file that loads to the same circuit, and label the heads of a model it fits.
#include <algorithm>

#include "evaluation/ground_truth.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const cs::GroundTruth g = cs::ground_truth_from_text(std::string(reinterpret_cast<const char*>(data), size), "truth.json");
    const cs::GroundTruth back = cs::ground_truth_from_text(cs::ground_truth_to_json(g), "written.json");
    if (back.heads != g.heads || back.edges != g.edges || back.mlps != g.mlps || back.name != g.name) __builtin_trap();
    int L = 1, H = 1;
    for (const cs::HeadId& h : g.heads) L = std::max(L, h.layer + 1), H = std::max(H, h.head + 1);
    if (static_cast<int64_t>(L) * H <= (1 << 20)) (void)cs::head_labels(g, L, H);
  });
}
