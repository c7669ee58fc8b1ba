#include "evaluation/ground_truth.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {
namespace {

using json = nlohmann::json;

// ---- building edge lists ------------------------------------------------------------------

// Collects edges, keeping only forward ones, and returns them sorted in Edge's order.
struct EdgeSet {
  std::set<Edge> set;
  void add(const Node& from, const Node& to, QKV x = QKV::Q) {
    const Edge e{from, to, to.kind == NodeKind::Head ? x : QKV::Q};
    if (edge_problem(e).empty()) set.insert(e);
  }
  std::vector<Edge> sorted() const { return {set.begin(), set.end()}; }
};

QKV letter(char c) { return c == 'q' ? QKV::Q : c == 'k' ? QKV::K : QKV::V; }

// Every forward edge between the two node lists; head receivers get the given letters.
void connect(EdgeSet& es, const std::vector<Node>& senders, const std::vector<HeadId>& heads,
             const std::string& letters) {
  for (const Node& s : senders)
    for (const HeadId& h : heads)
      for (char c : letters) es.add(s, Node::attention(h), letter(c));
}

std::vector<Node> outs(const std::vector<HeadId>& heads) {
  std::vector<Node> v;
  for (const HeadId& h : heads) v.push_back(Node::attention(h));
  return v;
}

std::vector<Node> mlp_nodes(const std::vector<int>& layers) {
  std::vector<Node> v;
  for (int l : layers) v.push_back(Node::mlp(l));
  return v;
}

// ---- loading -----------------------------------------------------------------------------

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::string read_text(const std::string& path, const json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) fail(path, std::string("missing required key \"") + key + "\"");
    return "";
  }
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (size_t i = 0; i < v.size(); i++) {
      if (!v[i].is_string()) fail(path, std::string("\"") + key + "\" lines must be strings");
      if (i) out += '\n';
      out += v[i].get<std::string>();
    }
    return out;
  }
  fail(path, std::string("\"") + key + "\" must be a string or an array of strings");
}

int read_index(const std::string& path, const std::string& where, const json& v,
               const char* what) {
  if (!v.is_number_integer())
    fail(path, where + ": " + what + " must be an integer, got " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < 0) fail(path, where + ": " + what + " is " + std::to_string(x) + "; numbering starts at 0");
  if (x > 100000) fail(path, where + ": " + what + " " + std::to_string(x) + " is implausibly large");
  return int(x);
}

std::string truth_dir() { return std::string(CS_SOURCE_DIR) + "/data/truth"; }

void write_text(std::ostringstream& o, const char* key, const std::string& text) {
  o << "  \"" << key << "\": ";
  if (text.find('\n') == std::string::npos) {
    o << json(text).dump() << ",\n";
    return;
  }
  std::istringstream lines(text);
  std::string line;
  o << "[\n";
  bool first = true;
  while (std::getline(lines, line)) {
    o << (first ? "" : ",\n") << "    " << json(line).dump();
    first = false;
  }
  o << "\n  ],\n";
}

}  // namespace

GroundTruth load_ground_truth(const std::string& path) {
  return ground_truth_from_text(read_input_file(path, kMaxSmallJsonBytes), path);
}

GroundTruth ground_truth_from_text(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    fail(path, "not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {  // out_of_range.406: a number beyond double's range
    fail(path, "not valid JSON (a number too large for a double)");
  }
  if (!j.is_object()) fail(path, "top level must be a JSON object");
  static const std::set<std::string> known = {"name",  "model", "task",  "source",
                                              "notes", "heads", "mlps", "edges"};
  for (const auto& [key, value] : j.items())
    if (!known.count(key))
      fail(path, "unknown key \"" + key +
                     "\" (known: name, model, task, source, notes, heads, mlps, edges)");

  GroundTruth g;
  g.name = read_text(path, j, "name", true);
  g.model = read_text(path, j, "model", true);
  g.task = read_text(path, j, "task", true);
  g.source = read_text(path, j, "source", true);
  g.notes = read_text(path, j, "notes", false);

  if (!j.contains("heads")) fail(path, "missing required key \"heads\" (may be [])");
  if (!j["heads"].is_array()) fail(path, "\"heads\" must be an array");
  std::set<HeadId> seen_heads;
  for (size_t i = 0; i < j["heads"].size(); i++) {
    const json& h = j["heads"][i];
    const std::string where = "heads[" + std::to_string(i) + "]";
    if (!h.is_object() || !h.contains("layer") || !h.contains("head"))
      fail(path, where + " must be {\"layer\": L, \"head\": H, \"class\": optional}, got " +
                     h.dump());
    for (const auto& [key, value] : h.items())
      if (key != "layer" && key != "head" && key != "class")
        fail(path, where + ": unknown key \"" + key + "\" (known: layer, head, class)");
    const HeadId id{read_index(path, where, h["layer"], "layer"),
                    read_index(path, where, h["head"], "head")};
    if (!seen_heads.insert(id).second) fail(path, where + ": head " + id.str() + " listed twice");
    g.heads.push_back(id);
    if (h.contains("class")) {
      if (!h["class"].is_string()) fail(path, where + ": class must be a string");
      g.head_class[id] = h["class"].get<std::string>();
    }
  }

  if (j.contains("mlps")) {
    if (!j["mlps"].is_array()) fail(path, "\"mlps\" must be an array of layer numbers");
    std::set<int> seen;
    for (size_t i = 0; i < j["mlps"].size(); i++) {
      const std::string where = "mlps[" + std::to_string(i) + "]";
      const int l = read_index(path, where, j["mlps"][i], "layer");
      if (!seen.insert(l).second) fail(path, where + ": MLP " + std::to_string(l) + " listed twice");
      g.mlps.push_back(l);
    }
  }

  if (j.contains("edges")) {
    if (!j["edges"].is_array()) fail(path, "\"edges\" must be an array of edge names (\"a0.h1->a2.h3<q>\")");
    std::set<Edge> seen;
    for (size_t i = 0; i < j["edges"].size(); i++) {
      const json& e = j["edges"][i];
      const std::string where = "edges[" + std::to_string(i) + "]";
      const bool pair = e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string();
      if (!e.is_string() && !pair)
        fail(path, where + " must be an edge name such as \"a0.h1->a2.h3<q>\" (or a [\"from\", \"to\"] pair), got " +
                       e.dump());
      std::optional<Edge> id;
      try {
        id = pair ? parse_edge_pair(e[0].get<std::string>(), e[1].get<std::string>())
                  : parse_edge(e.get<std::string>());
      } catch (const Error& err) {
        fail(path, where + ": " + err.what());
      }
      if (!id) continue;  // a head's internal q/k/v edge (ACDC's pairs)
      if (!seen.insert(*id).second) fail(path, where + ": edge " + id->name() + " listed twice");
      g.edges.push_back(*id);
    }
  }
  return g;
}

std::vector<std::string> list_ground_truths() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(truth_dir(), ec))
    if (entry.is_regular_file() && entry.path().extension() == ".json")
      names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

GroundTruth ground_truth_by_name(const std::string& name) {
  const std::string path = truth_dir() + "/" + name + ".json";
  if (name.find('/') != std::string::npos || !std::filesystem::exists(path)) {
    std::string avail;
    for (const std::string& n : list_ground_truths()) avail += (avail.empty() ? "" : ", ") + n;
    throw Error("unknown ground truth '" + name + "'; available: " +
                (avail.empty() ? "(none found in " + truth_dir() + ")" : avail));
  }
  return load_ground_truth(path);
}

std::string ground_truth_to_json(const GroundTruth& g) {
  std::ostringstream o;
  o << "{\n";
  write_text(o, "name", g.name);
  write_text(o, "model", g.model);
  write_text(o, "task", g.task);
  write_text(o, "source", g.source);
  if (!g.notes.empty()) write_text(o, "notes", g.notes);
  o << "  \"heads\": [";
  for (size_t i = 0; i < g.heads.size(); i++) {
    const HeadId& h = g.heads[i];
    o << (i ? ",\n    " : "\n    ") << "{\"layer\": " << h.layer << ", \"head\": " << h.head;
    const auto c = g.head_class.find(h);
    if (c != g.head_class.end()) o << ", \"class\": " << json(c->second).dump();
    o << "}";
  }
  o << (g.heads.empty() ? "],\n" : "\n  ],\n");
  o << "  \"mlps\": [";
  for (size_t i = 0; i < g.mlps.size(); i++) o << (i ? ", " : "") << g.mlps[i];
  o << "],\n  \"edges\": [";
  for (size_t i = 0; i < g.edges.size(); i++)
    o << (i ? ",\n    " : "\n    ") << json(g.edges[i].name()).dump();
  o << (g.edges.empty() ? "]\n}\n" : "\n  ]\n}\n");
  return o.str();
}

std::vector<bool> head_labels(const GroundTruth& g, int n_layers, int n_heads) {
  std::vector<bool> labels(size_t(n_layers) * n_heads, false);
  for (const HeadId& h : g.heads) {
    if (h.layer >= n_layers || h.head >= n_heads)
      throw Error("ground truth " + g.name + " (" + g.model + ") has head " + h.str() +
                  " but the model has " + std::to_string(n_layers) + " layers x " +
                  std::to_string(n_heads) + " heads; is it the right model?");
    labels[size_t(h.layer) * n_heads + h.head] = true;
  }
  return labels;
}

std::vector<bool> edge_labels(const GroundTruth& g, const Graph& graph) {
  if (g.edges.empty())
    throw Error("ground truth " + g.name + " has no edges (node-level only); pick an edge-level "
                "ground truth such as the ACDC ones");
  std::vector<bool> labels(static_cast<size_t>(graph.n_edges()), false);
  for (const Edge& e : g.edges) {
    const int i = graph.find(e);
    if (i < 0)
      throw Error("ground truth " + g.name + " (" + g.model + ") has edge " + e.name() +
                  ", which is not in the scored graph; is it the right model?");
    labels[static_cast<size_t>(i)] = true;
  }
  return labels;
}

std::vector<Edge> ioi_edges_from_classes(const std::vector<HeadId>& heads,
                                         const std::map<HeadId, std::string>& head_class,
                                         const std::vector<int>& mlps) {
  static const std::vector<std::string> classes = {
      "name mover",     "backup name mover", "negative name mover", "S-inhibition",
      "induction",      "duplicate token",   "previous token"};
  std::map<std::string, std::vector<HeadId>> by_class;
  for (const HeadId& h : heads) {
    const auto c = head_class.find(h);
    if (c == head_class.end())
      throw Error("ioi_edges_from_classes: head " + h.str() + " has no class");
    if (std::find(classes.begin(), classes.end(), c->second) == classes.end())
      throw Error("ioi_edges_from_classes: head " + h.str() + " has class '" + c->second +
                  "'; IOI classes are: name mover, backup name mover, negative name mover, "
                  "S-inhibition, induction, duplicate token, previous token");
    by_class[c->second].push_back(h);
  }
  auto cls = [&](const std::string& c) { return by_class[c]; };
  std::vector<HeadId> movers = cls("name mover");
  for (const char* c : {"backup name mover", "negative name mover"})
    movers.insert(movers.end(), by_class[c].begin(), by_class[c].end());

  EdgeSet es;
  const Node input = Node::input(), logits = Node::logits();
  connect(es, {input}, cls("previous token"), "qkv");
  connect(es, {input}, cls("duplicate token"), "qkv");
  connect(es, {input}, cls("S-inhibition"), "q");
  connect(es, {input}, movers, "kv");
  connect(es, outs(cls("previous token")), cls("induction"), "kv");
  connect(es, outs(cls("induction")), cls("S-inhibition"), "kv");
  connect(es, outs(cls("duplicate token")), cls("S-inhibition"), "kv");
  connect(es, outs(cls("S-inhibition")), movers, "q");
  for (const Node& m : outs(movers)) es.add(m, logits);
  // MLP edges: every forward edge with an MLP at one end, among the kept nodes.
  const std::vector<Node> ms = mlp_nodes(mlps);
  std::vector<Node> senders = {input}, receivers = {logits};
  senders.insert(senders.end(), ms.begin(), ms.end());
  for (const Node& h : outs(heads)) senders.push_back(h);
  receivers.insert(receivers.end(), ms.begin(), ms.end());
  for (const Node& m : ms) {
    for (const Node& s : senders) es.add(s, m);
    for (const Node& r : receivers) es.add(m, r);
  }
  connect(es, ms, heads, "qkv");
  es.add(input, logits);
  return es.sorted();
}

std::vector<Edge> greater_than_edges_acdc() {
  const std::vector<HeadId> early = {{0, 1}, {0, 3}, {0, 5}};
  const std::vector<HeadId> mid = {{5, 5}, {6, 1}, {6, 9}, {7, 10}, {8, 11}, {9, 1}};
  const std::vector<Node> early_mlps = mlp_nodes({0, 1, 2, 3});
  const std::vector<Node> late_mlps = mlp_nodes({8, 9, 10, 11});
  const Node input = Node::input(), logits = Node::logits();
  EdgeSet es;
  connect(es, {input}, early, "qkv");
  for (const Node& m : early_mlps) es.add(input, m);
  for (const Node& s : outs(mid)) es.add(s, logits);
  for (const Node& s : late_mlps) es.add(s, logits);
  for (const auto* group : {&early_mlps, &late_mlps})
    for (const Node& a : *group)
      for (const Node& b : *group) es.add(a, b);
  for (const Node& m : early_mlps) es.add(Node::attention(0, 1), m);
  connect(es, outs(early), mid, "qkv");
  connect(es, early_mlps, mid, "qkv");
  for (const Node& s : outs(mid))
    for (const Node& m : late_mlps) es.add(s, m);
  // Clean queries of the mid heads: every MLP below the last mid head (layer 9) is kept.
  const std::vector<Node> below = mlp_nodes({0, 1, 2, 3, 4, 5, 6, 7, 8});
  for (const Node& a : below)
    for (const Node& b : below) es.add(a, b);
  connect(es, below, mid, "q");
  return es.sorted();
}

}  // namespace cs
