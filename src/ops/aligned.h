// std::vector with cache-line-aligned storage. glibc's malloc aligns to 16 bytes (heap) or to a
// page (mmap, large blocks); which one a buffer gets depends on its size and on the process's
// M_MMAP_THRESHOLD. Kernels that stream AVX loads over a buffer many times (SAE training: ~10%
// slower on 16-byte-aligned workspaces than on page-aligned ones) take it from here instead.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace cs {

template <class T, std::size_t Align = 64>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }
  template <class U>
  bool operator==(const AlignedAllocator<U, Align>&) const noexcept { return true; }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace cs
