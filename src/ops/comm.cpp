#include "ops/comm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#ifdef CS_MPI
#include <mpi.h>
#endif

namespace cs {

bool built_with_mpi() {
#ifdef CS_MPI
  return true;
#else
  return false;
#endif
}

namespace {

#ifdef CS_MPI
// Started by an MPI launcher: OpenMPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMIx launchers
// (srun --mpi=pmix) PMIX_RANK, PMI-1/2 launchers PMI_SIZE. Without one, MPI_Init would start a
// singleton (and spawn a daemon) for nothing; sweep's child jobs are started with CS_MPI=0.
bool launched_by_mpi() {
  const char* off = std::getenv("CS_MPI");
  if (off && std::strcmp(off, "0") == 0) return false;
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

void finalize_at_exit() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, double> ? MPI_DOUBLE : MPI_FLOAT;
}
#endif

}  // namespace

Comm::Comm(bool world) {
#ifdef CS_MPI
  if (!world || !launched_by_mpi()) return;
  int provided = 0;
  // Only the main thread calls MPI (OpenMP and sweep's job threads never do).
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  std::atexit(finalize_at_exit);
#endif
}

namespace {
Comm* g_current = nullptr;
}

Comm& Comm::world() {
  static Comm c(true);
  return c;
}

Comm& Comm::self() {
  static Comm c(false);
  return c;
}

Comm& Comm::current() { return g_current ? *g_current : world(); }

CommScope::CommScope(Comm& c) : previous_(g_current) { g_current = &c; }
CommScope::~CommScope() { g_current = previous_; }

LocalRange Comm::local_range(size_t n) const {
  const size_t r = static_cast<size_t>(rank_), s = static_cast<size_t>(size_);
  return {r * n / s, (r + 1) * n / s};
}

template <class T>
void Comm::allreduce_impl(T* x, size_t n) {
  if (size_ == 1 || n == 0) return;
#ifdef CS_MPI
  // Gather every rank's partials to rank 0 ([size, n]), add them in rank order, broadcast.
  std::vector<T> all(rank_ == 0 ? n * size_ : 0);
  MPI_Gather(x, static_cast<int>(n), mpi_type<T>(), all.data(), static_cast<int>(n), mpi_type<T>(), 0, MPI_COMM_WORLD);
  if (rank_ == 0) {
    for (int r = 1; r < size_; ++r) {
      const T* p = all.data() + static_cast<size_t>(r) * n;
      for (size_t i = 0; i < n; ++i) x[i] += p[i];
    }
  }
  MPI_Bcast(x, static_cast<int>(n), mpi_type<T>(), 0, MPI_COMM_WORLD);
  ++collectives_;
  bytes_moved_ += (rank_ == 0 ? 2 * static_cast<uint64_t>(size_ - 1) : 2) * n * sizeof(T);
#endif
}

void Comm::allreduce_sum(double* x, size_t n) { allreduce_impl(x, n); }
void Comm::allreduce_sum(float* x, size_t n) { allreduce_impl(x, n); }

std::vector<std::string> Comm::gather(const std::string& bytes) {
  if (size_ == 1) return {bytes};
#ifdef CS_MPI
  int len = static_cast<int>(bytes.size());
  std::vector<int> lens(rank_ == 0 ? size_ : 0), offs(rank_ == 0 ? size_ : 0);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (rank_ == 0) {
    int total = 0;
    for (int r = 0; r < size_; ++r) offs[r] = total, total += lens[r];
    all.resize(total);
  }
  MPI_Gatherv(bytes.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  ++collectives_;
  bytes_moved_ += rank_ == 0 ? all.size() - bytes.size() : bytes.size();
  std::vector<std::string> out;
  if (rank_ == 0)
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(offs[r], lens[r]));
  return out;
#else
  return {bytes};
#endif
}

std::vector<float> Comm::gather(const std::vector<float>& x) {
  if (size_ == 1) return x;
#ifdef CS_MPI
  int len = static_cast<int>(x.size());
  std::vector<int> lens(rank_ == 0 ? size_ : 0), offs(rank_ == 0 ? size_ : 0);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<float> all;
  if (rank_ == 0) {
    int total = 0;
    for (int r = 0; r < size_; ++r) offs[r] = total, total += lens[r];
    all.resize(total);
  }
  MPI_Gatherv(x.data(), len, MPI_FLOAT, all.data(), lens.data(), offs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD);
  ++collectives_;
  bytes_moved_ += (rank_ == 0 ? all.size() - x.size() : x.size()) * sizeof(float);
  return all;
#else
  return x;
#endif
}

void Comm::broadcast(std::string& bytes) {
  if (size_ == 1) return;
#ifdef CS_MPI
  int len = static_cast<int>(bytes.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  bytes.resize(len);
  MPI_Bcast(bytes.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  ++collectives_;
  bytes_moved_ += rank_ == 0 ? static_cast<uint64_t>(size_ - 1) * len : len;
#endif
}

void Comm::broadcast(std::vector<float>& x) {
  if (size_ == 1) return;
#ifdef CS_MPI
  int64_t len = static_cast<int64_t>(x.size());
  MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  x.resize(static_cast<size_t>(len));
  // In pieces of at most 2^30 floats: MPI counts are ints.
  for (int64_t at = 0; at < len; at += int64_t{1} << 30)
    MPI_Bcast(x.data() + at, static_cast<int>(std::min<int64_t>(len - at, int64_t{1} << 30)), MPI_FLOAT, 0, MPI_COMM_WORLD);
  ++collectives_;
  bytes_moved_ += (rank_ == 0 ? static_cast<uint64_t>(size_ - 1) : 1) * x.size() * sizeof(float);
#endif
}

void Comm::barrier() {
#ifdef CS_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void Comm::abort_all(int code) {
#ifdef CS_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace cs
