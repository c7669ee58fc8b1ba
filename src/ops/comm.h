// The processes of one run: MPI_COMM_WORLD when circuitscan is built with MPI (CS_MPI) and
// launched by mpirun / srun, else one process. Every call is a no-op (or a copy) with one
// process, so the methods call it unconditionally and work the same without MPI.
//
// Data parallel over prompts: rank r takes the contiguous block local_range(n) of the n prompts,
// computes its partial sums, and allreduce_sum() adds the ranks' partials in rank order
// (rank 0 + rank 1 + ...), gathered to rank 0, summed there and broadcast, so that a given rank
// count gives the same bits on every run (MPI_Allreduce promises no order).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cs {

struct LocalRange {
  size_t begin = 0, end = 0;  // [begin, end) of the prompts this rank takes
  size_t size() const { return end - begin; }
};

class Comm {
 public:
  // The world of this process, set up on first use: MPI is initialised only when the process was
  // started by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in the environment)
  // and CS_MPI is not "0"; it is finalised at exit.
  static Comm& world();
  // One process alone (rank 0 of 1), whatever the launcher: the serial reference in tests and
  // benchmarks.
  static Comm& self();
  // The communicator the data-parallel passes use: world() unless a CommScope says otherwise.
  static Comm& current();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool active() const { return size_ > 1; }

  // Rank r's block of n items: [r * n / size, (r + 1) * n / size).
  LocalRange local_range(size_t n) const;

  // x <- the sum of every rank's x, in rank order; the same result on every rank.
  void allreduce_sum(double* x, size_t n);
  void allreduce_sum(float* x, size_t n);
  void allreduce_sum(std::vector<double>& x) { allreduce_sum(x.data(), x.size()); }
  void allreduce_sum(std::vector<float>& x) { allreduce_sum(x.data(), x.size()); }

  // Every rank's bytes, in rank order, on rank 0 (the other ranks get an empty list).
  std::vector<std::string> gather(const std::string& bytes);
  // Every rank's floats concatenated in rank order, on rank 0 (the others get an empty vector);
  // the ranks' counts may differ.
  std::vector<float> gather(const std::vector<float>& x);
  // Rank 0's bytes (floats) on every rank.
  void broadcast(std::string& bytes);
  void broadcast(std::vector<float>& x);
  void barrier();
  // Ends every rank with `code` (MPI_Abort): an error one rank meets must not leave the others
  // waiting in a collective. With one process: std::exit(code).
  [[noreturn]] void abort_all(int code);

  // Bytes this process has sent plus received through the calls above (for benchmarks): the
  // payload, not MPI's own overhead.
  uint64_t bytes_moved() const { return bytes_moved_; }
  // Collective calls made through this object (allreduce, gather, broadcast; not barrier).
  uint64_t collectives() const { return collectives_; }
  void reset_bytes_moved() { bytes_moved_ = 0, collectives_ = 0; }

  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

 private:
  explicit Comm(bool world);
  template <class T>
  void allreduce_impl(T* x, size_t n);
  int rank_ = 0, size_ = 1;
  uint64_t bytes_moved_ = 0, collectives_ = 0;
};

// Makes `c` the current communicator for its lifetime (then the previous one again).
class CommScope {
 public:
  explicit CommScope(Comm& c);
  ~CommScope();
  CommScope(const CommScope&) = delete;
  CommScope& operator=(const CommScope&) = delete;

 private:
  Comm* previous_;
};

// Whether this build has MPI at all (CS_MPI), for messages and tests.
bool built_with_mpi();

}  // namespace cs
