# bench/ — benchmarks: figures, never pass/fail.
