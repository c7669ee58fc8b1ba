#include "model/model_path.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ops/error.h"

namespace cs {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// "NAME" or "ORG/NAME" of letters, digits, '.', '_', '-' (the hub's repository ids).
bool is_hub_id(const std::string& id) {
  if (id.empty() || id.front() == '/' || id.front() == '.' || id.back() == '/') return false;
  int slashes = 0;
  for (char c : id) {
    if (c == '/') ++slashes;
    else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  }
  return slashes <= 1 && id.find("..") == std::string::npos;
}

std::string first_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string hf_hub_cache_dir() {
  if (std::string v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (std::string v = env("HUGGINGFACE_HUB_CACHE"); !v.empty()) return v;
  if (std::string v = env("HF_HOME"); !v.empty()) return (fs::path(v) / "hub").string();
  if (std::string v = env("XDG_CACHE_HOME"); !v.empty()) return (fs::path(v) / "huggingface" / "hub").string();
  return (fs::path(env("HOME").empty() ? "/" : env("HOME")) / ".cache" / "huggingface" / "hub").string();
}

std::string resolve_model_path(const std::string& arg) {
  std::error_code ec;
  if (fs::is_directory(arg, ec)) return arg;
  if (fs::exists(arg, ec))
    throw Error(arg + ": not a directory: pass a Hugging Face model directory (config.json + *.safetensors)");

  const size_t at = arg.rfind('@');
  const std::string id = arg.substr(0, at), revision = at == std::string::npos ? "" : arg.substr(at + 1);
  const std::string cache = hf_hub_cache_dir();
  if (!is_hub_id(id) || (at != std::string::npos && revision.empty()))
    throw Error("model directory '" + arg + "' does not exist: pass a Hugging Face model directory "
                "(config.json + *.safetensors) or a hub id in the Hugging Face cache (ORG/NAME)");
  std::string folder = "models--" + id;
  if (size_t s = folder.find('/'); s != std::string::npos) folder.replace(s, 1, "--");
  const fs::path repo = fs::path(cache) / folder;
  if (!fs::is_directory(repo, ec))
    throw Error("model directory '" + arg + "' does not exist, and the Hugging Face cache has no " + repo.string() +
                ": pass a model directory, or set HF_HUB_CACHE (or HF_HOME) to the cache that holds " + id);

  const fs::path snapshots = repo / "snapshots";
  const std::string rev = revision.empty() ? "main" : revision;
  std::string commit = fs::exists(repo / "refs" / rev, ec) ? first_line(repo / "refs" / rev) : rev;
  if (!commit.empty() && fs::is_directory(snapshots / commit, ec)) return (snapshots / commit).string();

  std::vector<std::string> found;
  for (fs::directory_iterator it(snapshots, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) found.push_back(it->path().filename().string());
  if (revision.empty() && found.size() == 1) return (snapshots / found.front()).string();
  std::string list;
  for (const std::string& f : found) list += (list.empty() ? "" : ", ") + f;
  throw Error(id + ": the Hugging Face cache " + repo.string() + " has no snapshot for revision '" + rev +
              "' (snapshots: " + (list.empty() ? "none" : list) + "): name one as " + id + "@COMMIT");
}

}  // namespace cs
