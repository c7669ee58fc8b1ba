#include "evaluation/ground_truth.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "model/data_dir.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {
namespace {

using json = nlohmann::json;

// ---- node names --------------------------------------------------------------------------

enum class Kind { Input, HeadIn, HeadOut, Mlp, Output };

struct Node {
  Kind kind;
  int layer = 0, head = 0;
  int letter = 0;  // 0 q, 1 k, 2 v (HeadIn only)
};

constexpr char kLetters[] = "qkv";

// Position in the forward pass; an edge must go from a smaller to a larger position. Inside
// a layer the head inputs come first, then head outputs, then the MLP (GPT-2 block order).
std::tuple<int, int, int, int, int> position(const Node& n) {
  switch (n.kind) {
    case Kind::Input: return {0, 0, 0, 0, 0};
    case Kind::HeadIn: return {1, n.layer, 0, n.head, n.letter};
    case Kind::HeadOut: return {1, n.layer, 1, n.head, 0};
    case Kind::Mlp: return {1, n.layer, 2, 0, 0};
    case Kind::Output: return {2, 0, 0, 0, 0};
  }
  return {};
}

// Reads a non-negative decimal integer at s[i...] in canonical form (no sign, no leading
// zeros, so each node has exactly one name); advances i.
std::optional<int> read_int(const std::string& s, size_t& i) {
  const size_t start = i;
  if (i + 1 < s.size() && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9') return std::nullopt;
  long v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 6) v = v * 10 + (s[i++] - '0');
  if (i == start || (i < s.size() && s[i] >= '0' && s[i] <= '9')) return std::nullopt;
  return int(v);
}

std::optional<Node> parse_node(const std::string& s) {
  if (s == "input") return Node{Kind::Input};
  if (s == "output") return Node{Kind::Output};
  if (s.size() < 2) return std::nullopt;
  size_t i = 1;
  if (s[0] == 'm') {
    const auto layer = read_int(s, i);
    if (!layer || i != s.size()) return std::nullopt;
    return Node{Kind::Mlp, *layer};
  }
  if (s[0] != 'a') return std::nullopt;
  const auto layer = read_int(s, i);
  if (!layer || i >= s.size() || s[i++] != '.') return std::nullopt;
  const auto head = read_int(s, i);
  if (!head) return std::nullopt;
  if (i == s.size()) return Node{Kind::HeadOut, *layer, *head};
  if (i + 2 != s.size() || s[i] != '.') return std::nullopt;
  const char* p = std::strchr(kLetters, s[i + 1]);
  if (!p || !*p) return std::nullopt;
  return Node{Kind::HeadIn, *layer, *head, int(p - kLetters)};
}

// Built by appending: GCC 12 gives a false -Wrestrict for "a" + std::string (bug 105329).
std::string head_out(const HeadId& h) { return std::string("a").append(h.str()); }
std::string head_in(const HeadId& h, int letter) {
  return head_out(h).append(1, '.').append(1, kLetters[letter]);
}
std::string mlp(int layer) { return std::string("m").append(std::to_string(layer)); }

// Empty when {from, to} is a legal edge, else why not.
std::string edge_problem(const std::string& from, const std::string& to) {
  const auto f = parse_node(from), t = parse_node(to);
  if (!f) return "'" + from + "' is not a node name (input, output, aL.H, aL.H.q/k/v, mL)";
  if (!t) return "'" + to + "' is not a node name (input, output, aL.H, aL.H.q/k/v, mL)";
  if (f->kind == Kind::Output) return "'output' cannot send an edge";
  if (t->kind == Kind::Input) return "'input' cannot receive an edge";
  if (f->kind == Kind::HeadIn &&
      !(t->kind == Kind::HeadOut && t->layer == f->layer && t->head == f->head))
    return "a head input ('" + from + "') only feeds its own head ('a" +
           std::to_string(f->layer) + "." + std::to_string(f->head) + "')";
  if (t->kind == Kind::HeadOut && f->kind != Kind::HeadIn)
    return "a head output ('" + to + "') is fed only by its own q/k/v inputs; use '" + to +
           ".q', '.k' or '.v'";
  if (!(position(*f) < position(*t)))
    return "edge goes backward ('" + from + "' is computed after '" + to + "' reads)";
  return "";
}

// Collects edges, keeping only legal forward ones, and returns them sorted by
// (receiver, sender) in forward-pass order.
struct EdgeSet {
  std::set<std::pair<std::string, std::string>> set;
  void add(const std::string& from, const std::string& to) {
    if (edge_problem(from, to).empty()) set.insert({from, to});
  }
  // Adds "aL.H.x" -> "aL.H" for every input letter of these heads that receives an edge.
  void add_internal(const std::vector<HeadId>& heads) {
    std::set<std::string> fed;
    for (const auto& [f, t] : set) fed.insert(t);
    for (const HeadId& h : heads)
      for (int x = 0; x < 3; x++)
        if (fed.count(head_in(h, x))) set.insert({head_in(h, x), head_out(h)});
  }
  std::vector<EdgeId> sorted() const {
    std::vector<EdgeId> out;
    for (const auto& [f, t] : set) out.push_back({f, t});
    std::sort(out.begin(), out.end(), [](const EdgeId& a, const EdgeId& b) {
      return std::tuple(position(*parse_node(a.to)), position(*parse_node(a.from))) <
             std::tuple(position(*parse_node(b.to)), position(*parse_node(b.from)));
    });
    return out;
  }
};

// Every forward edge between the two node lists; head receivers get the given letters.
void connect(EdgeSet& es, const std::vector<std::string>& senders,
             const std::vector<HeadId>& heads, const std::string& letters) {
  for (const std::string& s : senders)
    for (const HeadId& h : heads)
      for (char c : letters) es.add(s, head_in(h, int(std::strchr(kLetters, c) - kLetters)));
}

std::vector<std::string> outs(const std::vector<HeadId>& heads) {
  std::vector<std::string> v;
  for (const HeadId& h : heads) v.push_back(head_out(h));
  return v;
}

std::vector<std::string> mlp_nodes(const std::vector<int>& layers) {
  std::vector<std::string> v;
  for (int l : layers) v.push_back(mlp(l));
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

std::string truth_dir() { return data_dir() + "/truth"; }

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

std::string HeadId::str() const { return std::to_string(layer) + "." + std::to_string(head); }

HeadId parse_head(const std::string& s) {
  const auto n = parse_node("a" + s);
  if (!n || n->kind != Kind::HeadOut)
    throw Error("'" + s + "' is not a head; write heads as layer.head, e.g. 9.9");
  return {n->layer, n->head};
}

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
      g.head_class[id.str()] = h["class"].get<std::string>();
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
    if (!j["edges"].is_array()) fail(path, "\"edges\" must be an array of [from, to] pairs");
    std::set<EdgeId> seen;
    for (size_t i = 0; i < j["edges"].size(); i++) {
      const json& e = j["edges"][i];
      const std::string where = "edges[" + std::to_string(i) + "]";
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string())
        fail(path, where + " must be [\"from\", \"to\"], got " + e.dump());
      EdgeId id{e[0].get<std::string>(), e[1].get<std::string>()};
      const std::string problem = edge_problem(id.from, id.to);
      if (!problem.empty()) fail(path, where + ": " + problem);
      if (!seen.insert(id).second)
        fail(path, where + ": edge " + id.from + " -> " + id.to + " listed twice");
      g.edges.push_back(std::move(id));
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
    const auto c = g.head_class.find(h.str());
    if (c != g.head_class.end()) o << ", \"class\": " << json(c->second).dump();
    o << "}";
  }
  o << (g.heads.empty() ? "],\n" : "\n  ],\n");
  o << "  \"mlps\": [";
  for (size_t i = 0; i < g.mlps.size(); i++) o << (i ? ", " : "") << g.mlps[i];
  o << "],\n  \"edges\": [";
  for (size_t i = 0; i < g.edges.size(); i++)
    o << (i ? ",\n    " : "\n    ") << "[" << json(g.edges[i].from).dump() << ", "
      << json(g.edges[i].to).dump() << "]";
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

std::vector<EdgeId> full_graph_edges(int n_layers, int n_heads, bool with_mlps) {
  if (n_layers < 1 || n_heads < 1)
    throw Error("full_graph_edges: model must have at least 1 layer and 1 head, got " +
                std::to_string(n_layers) + " x " + std::to_string(n_heads));
  std::vector<EdgeId> out;
  // Senders visible to a receiver: input, then per earlier layer its heads and MLP. `upto`
  // layers are complete; `heads_of` adds the heads (not the MLP) of one more layer.
  auto feed = [&](const std::string& to, int upto, int heads_of) {
    out.push_back({"input", to});
    for (int l = 0; l < upto; l++) {
      for (int h = 0; h < n_heads; h++) out.push_back({head_out({l, h}), to});
      if (with_mlps) out.push_back({mlp(l), to});
    }
    if (heads_of >= 0)
      for (int h = 0; h < n_heads; h++) out.push_back({head_out({heads_of, h}), to});
  };
  for (int l = 0; l < n_layers; l++) {
    for (int h = 0; h < n_heads; h++)
      for (int x = 0; x < 3; x++) feed(head_in({l, h}, x), l, -1);
    for (int h = 0; h < n_heads; h++)
      for (int x = 0; x < 3; x++) out.push_back({head_in({l, h}, x), head_out({l, h})});
    if (with_mlps) feed(mlp(l), l, l);
  }
  feed("output", n_layers, -1);
  return out;
}

std::vector<bool> edge_labels(const GroundTruth& g, const std::vector<EdgeId>& edges) {
  if (g.edges.empty())
    throw Error("ground truth " + g.name + " has no edges (node-level only); pick an edge-level "
                "ground truth such as the ACDC ones");
  std::map<EdgeId, size_t> index;
  for (size_t i = 0; i < edges.size(); i++) index.emplace(edges[i], i);
  std::vector<bool> labels(edges.size(), false);
  for (const EdgeId& e : g.edges) {
    const auto it = index.find(e);
    if (it == index.end())
      throw Error("ground truth " + g.name + " (" + g.model + ") has edge " + e.from + " -> " +
                  e.to + ", which is not in the scored graph; is it the right model?");
    labels[it->second] = true;
  }
  return labels;
}

bool is_head_internal_edge(const EdgeId& e) {
  const auto f = parse_node(e.from), t = parse_node(e.to);
  return f && t && f->kind == Kind::HeadIn && t->kind == Kind::HeadOut;
}

std::vector<EdgeId> ioi_edges_from_classes(const std::vector<HeadId>& heads,
                                           const std::map<std::string, std::string>& head_class,
                                           const std::vector<int>& mlps) {
  static const std::vector<std::string> classes = {
      "name mover",     "backup name mover", "negative name mover", "S-inhibition",
      "induction",      "duplicate token",   "previous token"};
  std::map<std::string, std::vector<HeadId>> by_class;
  for (const HeadId& h : heads) {
    const auto c = head_class.find(h.str());
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
  connect(es, {"input"}, cls("previous token"), "qkv");
  connect(es, {"input"}, cls("duplicate token"), "qkv");
  connect(es, {"input"}, cls("S-inhibition"), "q");
  connect(es, {"input"}, movers, "kv");
  connect(es, outs(cls("previous token")), cls("induction"), "kv");
  connect(es, outs(cls("induction")), cls("S-inhibition"), "kv");
  connect(es, outs(cls("duplicate token")), cls("S-inhibition"), "kv");
  connect(es, outs(cls("S-inhibition")), movers, "q");
  for (const std::string& m : outs(movers)) es.add(m, "output");
  // MLP edges: every forward edge with an MLP at one end, among the kept nodes.
  const std::vector<std::string> ms = mlp_nodes(mlps);
  std::vector<std::string> senders = {"input"}, receivers = {"output"};
  senders.insert(senders.end(), ms.begin(), ms.end());
  for (const std::string& h : outs(heads)) senders.push_back(h);
  receivers.insert(receivers.end(), ms.begin(), ms.end());
  for (const std::string& m : ms) {
    for (const std::string& s : senders) es.add(s, m);
    for (const std::string& r : receivers) es.add(m, r);
  }
  connect(es, ms, heads, "qkv");
  es.add("input", "output");
  es.add_internal(heads);
  return es.sorted();
}

std::vector<EdgeId> greater_than_edges_acdc() {
  const std::vector<HeadId> early = {{0, 1}, {0, 3}, {0, 5}};
  const std::vector<HeadId> mid = {{5, 5}, {6, 1}, {6, 9}, {7, 10}, {8, 11}, {9, 1}};
  const std::vector<std::string> early_mlps = mlp_nodes({0, 1, 2, 3});
  const std::vector<std::string> late_mlps = mlp_nodes({8, 9, 10, 11});
  EdgeSet es;
  connect(es, {"input"}, early, "qkv");
  for (const std::string& m : early_mlps) es.add("input", m);
  for (const std::string& s : outs(mid)) es.add(s, "output");
  for (const std::string& s : late_mlps) es.add(s, "output");
  for (const auto* group : {&early_mlps, &late_mlps})
    for (const std::string& a : *group)
      for (const std::string& b : *group) es.add(a, b);
  for (const std::string& m : early_mlps) es.add("a0.1", m);
  connect(es, outs(early), mid, "qkv");
  connect(es, early_mlps, mid, "qkv");
  for (const std::string& s : outs(mid))
    for (const std::string& m : late_mlps) es.add(s, m);
  // Clean queries of the mid heads: every MLP below the last mid head (layer 9) is kept.
  const std::vector<std::string> below = mlp_nodes({0, 1, 2, 3, 4, 5, 6, 7, 8});
  for (const std::string& a : below)
    for (const std::string& b : below) es.add(a, b);
  connect(es, below, mid, "q");
  std::vector<HeadId> all = early;
  all.insert(all.end(), mid.begin(), mid.end());
  es.add_internal(all);
  return es.sorted();
}

}  // namespace cs
