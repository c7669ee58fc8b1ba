// Input and output files, treated the same way by every command.
//
// An input is a regular file (symlinks followed) of bounded size, read whole: a FIFO would block
// the read forever, /dev/zero would never end, a directory gives a stream error with no path. Each
// refusal is one cs::Error naming the path.
//
// An output appears only complete. A single file is written under a temporary name beside it and
// renamed into place; a set of files (a report, a model directory) is written into a staging
// directory and moved into the target only when every file is done (StagedDir). Either way a run
// that fails leaves nothing new behind. Commands check their output paths before they compute
// (check_output_file / check_output_dir), so a bad --out fails in a second, not after the run.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cs {

// Size caps per kind of input file, far above any real file of that kind (the largest Hugging
// Face tokenizer.json files are about 35 MB).
inline constexpr uint64_t kMaxSmallJsonBytes = uint64_t{64} << 20;  // config.json, truth, scores, index, words
inline constexpr uint64_t kMaxLargeInputBytes = uint64_t{512} << 20; // tokenizers, task files

// Size in bytes of `path`, after checking it is a regular file of at most max_bytes; throws
// cs::Error naming the path otherwise (missing, a directory, a FIFO or device, too large).
uint64_t check_input_file(const std::string& path, uint64_t max_bytes);

// The whole content of `path` (check_input_file's checks first). Never blocks on a FIFO.
std::string read_input_file(const std::string& path, uint64_t max_bytes);

// Writes `contents` to path.tmp.<pid>.<n> beside `path`, then renames it over `path`. On any
// failure the temporary file is removed and cs::Error names `path`.
void write_file_atomic(const std::string& path, const std::string& contents);

// Before a computation whose result goes to `path` (a file): its directory exists and is
// writable, and `path` is not a directory. `flag` names the option in messages ("--out").
void check_output_file(const std::string& path, const std::string& flag);

// Before a computation whose results go to the directory `path`: it is a writable directory, or
// it does not exist and its nearest existing ancestor is a writable directory; and none of
// `files` inside it is a directory.
void check_output_dir(const std::string& path, const std::string& flag,
                      const std::vector<std::string>& files = {});

// A set of output files that appear together in `target`. Files are written to path(name), in a
// staging directory created by the constructor (inside `target` when it exists, else beside it,
// in its nearest existing ancestor); commit() moves them into `target` (creating it and its
// parents), each by one rename. Destroyed without commit(), it removes the staging directory.
class StagedDir {
 public:
  explicit StagedDir(std::string target);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  const std::string& target() const { return target_; }
  const std::string& dir() const { return staging_; }    // where the files are written
  std::string path(const std::string& name) const;      // dir()/name
  void commit();

 private:
  std::string target_, staging_;
  bool committed_ = false;
};

}  // namespace cs
