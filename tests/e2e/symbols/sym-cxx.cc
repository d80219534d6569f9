// SPDX-License-Identifier: Apache-2.0
// C++ fixture: a member function of a class template in a nested namespace, instantiated
// for double, must come back demangled as geo::detail::Grid<double>::relax(int).
#include <cstdlib>
#include <ctime>

namespace geo {
namespace detail {
template <typename T> struct Grid {
	T cells[64];
	__attribute__((noinline)) T relax(int rounds);
};

template <typename T> T Grid<T>::relax(int rounds)
{
	T s = 0;

	for (int r = 0; r < rounds; r++)
		for (int i = 1; i < 63; i++) {
			cells[i] = (cells[i - 1] + cells[i + 1]) * T(0.5) + T(r & 1);
			s += cells[i];
		}
	return s;
}
} // namespace detail
} // namespace geo

static double now_s()
{
	timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

volatile double sink;

int main(int argc, char **argv)
{
	geo::detail::Grid<double> g{};
	double end = now_s() + (argc > 1 ? std::atof(argv[1]) : 1.0);

	while (now_s() < end)
		sink = sink + g.relax(2000);
	return 0;
}
