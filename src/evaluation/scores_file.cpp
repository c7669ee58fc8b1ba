#include "evaluation/scores_file.h"

#include <nlohmann/json.hpp>
#include <tuple>

#include "model/config.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace {

using json = nlohmann::json;

// A JSON value for a message: escaped, at most 60 characters.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

// An integer in [lo, hi], compared as the JSON number it is (no wrap through int).
bool int_in(const json& v, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    return (lo <= 0 || u >= static_cast<uint64_t>(lo)) && hi >= 0 && u <= static_cast<uint64_t>(hi);
  }
  return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
}

}  // namespace

HeadScores head_scores_from_text(const std::string& text, const std::string& path, const std::string& field) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(path + ": not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(path + ": not valid JSON (a number too large for a double)");
  }
  HeadScores s;
  auto number = [&](const json& v, const std::string& what) {
    if (!v.is_number()) throw Error(path + ": " + what + " must be a number, got " + shown(v));
    return v.get<double>();
  };
  auto add = [&](HeadId h, double v, const std::string& what) {
    if (h.layer >= kMaxLayers || h.head >= kMaxHeads)
      throw Error(path + ": head " + h.str() + " is beyond the largest model supported (" +
                  std::to_string(kMaxLayers) + " layers x " + std::to_string(kMaxHeads) + " heads)");
    if (!s.by_head.emplace(h, v).second) throw Error(path + ": head " + h.str() + " appears twice (" + what + ")");
  };
  if (j.is_object() && j.contains("heads") && j["heads"].is_array()) {
    s.kind = "circuit.json";
    if (j.contains("model") && j["model"].is_object()) {
      const json& m = j["model"];
      for (const auto& [key, limit, out] : {std::tuple{"n_layers", kMaxLayers, &s.n_layers}, std::tuple{"n_heads", kMaxHeads, &s.n_heads}})
        if (m.contains(key) && !m[key].is_null()) {
          if (!int_in(m[key], 1, limit))
            throw Error(path + ": model." + key + " is " + shown(m[key]) + "; it must be an integer from 1 to " +
                        std::to_string(limit));
          *out = m[key].get<int>();
        }
    }
    const json& heads = j["heads"];
    for (size_t i = 0; i < heads.size(); ++i) {
      const json& e = heads[i];
      const std::string where = "heads[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("layer") || !e.contains("head") || !int_in(e["layer"], 0, kMaxLayers - 1) ||
          !int_in(e["head"], 0, kMaxHeads - 1))
        throw Error(path + ": " + where + " needs integer \"layer\" from 0 to " + std::to_string(kMaxLayers - 1) +
                    " and \"head\" from 0 to " + std::to_string(kMaxHeads - 1));
      if (!e.contains(field)) throw Error(path + ": " + where + " has no " + shown(json(field)));
      add({e["layer"].get<int>(), e["head"].get<int>()}, number(e[field], where + "." + field), where);
    }
  } else if (j.is_object() && j.contains("scores") && j["scores"].is_object()) {
    s.kind = "scores";
    for (const auto& [k, v] : j["scores"].items()) {
      HeadId h;
      try {
        h = parse_head(k);
      } catch (const Error&) {
        throw Error(path + ": scores key " + shown(json(k)) + " is not a head name (9.9, a9.h9 or A9.9)");
      }
      add(h, number(v, "scores[" + shown(json(k)) + "]"), k);
    }
  } else {
    throw Error(path + ": expected a circuit.json (with \"heads\") or {\"scores\": {\"9.9\": 0.7, ...}}");
  }
  if (s.by_head.empty()) throw Error(path + ": no head scores in the file");
  return s;
}

HeadScores read_head_scores(const std::string& path, const std::string& field) {
  return head_scores_from_text(read_input_file(path, kMaxSmallJsonBytes), path, field);
}

}  // namespace cs
