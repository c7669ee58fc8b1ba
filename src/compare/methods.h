// Every circuit-discovery method by name: one table that `discover --method`, `compare --methods`
// and their help text read, the typed options of all of them, and one way to run any of them.
#pragma once
#include <string>
#include <vector>

#include "attribution/eap.h"
#include "baselines/acdc.h"
#include "baselines/activation_patching.h"
#include "baselines/hisp.h"
#include "baselines/subnetwork_probing.h"
#include "evaluation/method.h"
#include "sae/discover.h"

namespace cs {

enum class MethodId { Sae, SaePaper, Patching, Acdc, Eap, EapIg, Hisp, Sp };

struct MethodInfo {
  MethodId id;
  const char* name;     // as the CLI spells it
  const char* summary;  // one line for --help
  bool edges;           // scores the graph's edges (its circuit is a set of edges)
  bool stochastic;      // depends on the seed: run once per trial
  // Relative run time of one run (seconds on the shipped model, IOI, README's table), to weigh
  // compare's progress fraction and time-left estimate: nothing else.
  double cost_weight;
};

// In the order of the help text: sae, sae-paper, patching, acdc, eap, eap-ig, hisp, sp.
const std::vector<MethodInfo>& method_table();
const MethodInfo& method_info(MethodId id);
// cs::UsageError naming the methods for an unknown name.
MethodId parse_method(const std::string& name);
// "sae, sae-paper, patching, acdc, eap, eap-ig, hisp, sp"
std::string method_names();
// One line per method, "name  summary", each indented by `indent` spaces, for --help.
std::string method_help(int indent);

struct MethodOptions {
  MethodSettings settings;   // the baselines' prompts, ablation and seed
  DiscoverOptions discover;  // the SAE methods' settings, and the pipeline's (trials, circuit size,
                             // faithfulness) for every method run through discover_with
  PatchingOptions patching;
  AcdcOptions acdc;
  EapOptions eap;            // eap and eap-ig
  HispOptions hisp;
  SpOptions sp;
};

// One run of a method with the given seed, as a MethodResult. sae: discover's node-level ranking
// (score discover.score); sae-paper: the paper's |P \ N|. Both SAE methods score head pairs too:
// the code pairs seen only on positives U, from each head to every input of every head of a later
// layer (q/k/v alike: the codes say nothing of which input). No faithfulness.
MethodResult run_method(MethodId id, const Model& m, const TokenizedTask& task, const MethodOptions& o,
                        uint64_t seed);

// `discover` with any method: the SAE methods through discover() (sae-paper with the paper's
// score), the others through run_method (o.discover.trials runs with seeds seed + t for a
// stochastic method, one run for the rest) and finish_discover, whose circuit rule they share
// (a threshold applies to their scores directly). Their graph circuit: ACDC's, the edges scoring
// >= tau; EAP's and EAP-IG's, the o.discover.top_edges best edges (default: as many as the head
// circuit's graph has); the others', the head circuit's graph. Each pruned as EAP-IG prunes.
DiscoverResult discover_with(MethodId id, const Model& m, const TokenizedTask& task, const MethodOptions& o,
                             const GroundTruth* truth);

}  // namespace cs
