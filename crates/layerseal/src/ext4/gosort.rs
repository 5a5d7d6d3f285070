//! Go's `sort.Slice` (pattern-defeating quicksort, Go ≥ 1.19), implemented
//! from its published description.
//!
//! compactext4 orders the entries of an xattr block with a comparison that
//! is not a strict weak order, so the result depends on the exact sequence of
//! comparisons and swaps the sort makes. Reproducing the on-disk order
//! therefore needs the same algorithm: insertion sort for short ranges, a
//! ninther pivot choice with its swap-count hint, partial insertion sort,
//! pattern breaking with an xorshift sequence seeded by the length, equal
//! partitioning when the pivot equals the preceding element, and a heapsort
//! fallback after too many unbalanced partitions.

/// Sort `v` exactly as Go's `sort.Slice(v, less)` would.
pub fn sort_slice<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n == 0 {
        return;
    }
    let limit = usize::BITS - n.leading_zeros();
    let mut s = Sorter { v, less: &less };
    s.pdqsort(0, n, limit);
}

const INSERTION_MAX: usize = 12;

#[derive(PartialEq, Eq, Clone, Copy)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Sorter<'a, T, F: Fn(&T, &T) -> bool> {
    v: &'a mut [T],
    less: &'a F,
}

impl<T, F: Fn(&T, &T) -> bool> Sorter<'_, T, F> {
    fn lt(&self, i: usize, j: usize) -> bool {
        (self.less)(&self.v[i], &self.v[j])
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.lt(j, j - 1) {
                self.v.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.lt(first + child, first + child + 1) {
                child += 1;
            }
            if !self.lt(first + root, first + child) {
                return;
            }
            self.v.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.v.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: u32) {
        let mut was_balanced = true;
        let mut was_partitioned = true;
        loop {
            let length = b - a;
            if length <= INSERTION_MAX {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            if a > 0 && !self.lt(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already) = self.partition(a, b, pivot);
            was_partitioned = already;
            let (left, right) = (mid - a, b - mid);
            let threshold = length / 8;
            if left < right {
                was_balanced = left >= threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.v.swap(a, pivot);
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        let lt = |s: &Self, x: isize, y: usize| s.lt(x as usize, y);
        let nlt = |s: &Self, x: isize, y: usize| !s.lt(x as usize, y);
        while i <= j && lt(self, i, a) {
            i += 1;
        }
        while i <= j && nlt(self, j, a) {
            j -= 1;
        }
        if i > j {
            self.v.swap(j as usize, a);
            return (j as usize, true);
        }
        self.v.swap(i as usize, j as usize);
        i += 1;
        j -= 1;
        loop {
            while i <= j && lt(self, i, a) {
                i += 1;
            }
            while i <= j && nlt(self, j, a) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.v.swap(i as usize, j as usize);
            i += 1;
            j -= 1;
        }
        self.v.swap(j as usize, a);
        (j as usize, false)
    }

    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.v.swap(a, pivot);
        let (mut i, mut j) = (a as isize + 1, b as isize - 1);
        loop {
            while i <= j && !self.lt(a, i as usize) {
                i += 1;
            }
            while i <= j && self.lt(a, j as usize) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.v.swap(i as usize, j as usize);
            i += 1;
            j -= 1;
        }
        i as usize
    }

    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.lt(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.v.swap(i, i - 1);
            // Shift the smaller element left (Go stops at index 1, not a+1).
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.lt(j, j - 1) {
                        break;
                    }
                    self.v.swap(j, j - 1);
                    j -= 1;
                }
            }
            // Shift the greater element right.
            if b - i >= 2 {
                for j in i + 1..b {
                    if !self.lt(j, j - 1) {
                        break;
                    }
                    self.v.swap(j, j - 1);
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << (usize::BITS - length.leading_zeros());
            let idx = a + (length / 4) * 2 - 1;
            for i in 0..3 {
                random ^= random << 13;
                random ^= random >> 17;
                random ^= random << 5;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                self.v.swap(idx + i, a + other);
            }
        }
    }

    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0usize;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median_adjacent(i, &mut swaps);
                j = self.median_adjacent(j, &mut swaps);
                k = self.median_adjacent(k, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.lt(b, a) {
            *swaps += 1;
            return (b, a);
        }
        (a, b)
    }

    fn median(&self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, c) = self.order2(b, c, swaps);
        let (_a, b) = self.order2(a, b, swaps);
        let _ = c;
        b
    }

    fn median_adjacent(&self, a: usize, swaps: &mut usize) -> usize {
        self.median(a - 1, a, a + 1, swaps)
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.v.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // With a proper order the result must simply be sorted.
        #[test]
        fn sorts_with_a_total_order(mut v in proptest::collection::vec(0u16..50, 0..400)) {
            let mut expected = v.clone();
            expected.sort();
            sort_slice(&mut v, |a, b| a < b);
            prop_assert_eq!(v, expected);
        }

        #[test]
        fn is_a_permutation_with_any_predicate(mut v in proptest::collection::vec(0u8..20, 0..200)) {
            let mut before = v.clone();
            sort_slice(&mut v, |a, b| (a % 3) < (b % 3) || a < b);
            let mut after = v.clone();
            before.sort();
            after.sort();
            prop_assert_eq!(before, after);
        }
    }
}

#[cfg(test)]
mod go_vectors {
    use super::sort_slice;

    /// 300 random inputs sorted by Go's own `sort.Slice` with compactext4's
    /// non-transitive predicate (tests/data/go-sort-slice.json).
    #[test]
    fn matches_go_sort_slice() {
        let text = include_str!("../../tests/data/go-sort-slice.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let cases = v["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 300);
        let parse = |a: &serde_json::Value| -> Vec<(u8, String)> {
            a.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["i"].as_u64().unwrap() as u8,
                        e["n"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        };
        for (k, c) in cases.iter().enumerate() {
            let mut v = parse(&c["in"]);
            sort_slice(&mut v, |a, b| {
                a.0 < b.0 || a.1.len() < b.1.len() || a.1 < b.1
            });
            assert_eq!(v, parse(&c["out"]), "case {k}");
        }
    }
}
