use super::*;

/// A seeded generator for test operands (splitmix64; values uniform in
/// [-1, 1), enough to exercise every bit of the sums).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn uniform(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn draw(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.uniform()).collect()
}

/// The contract, written out: each value is a chain of `mul_add` over `k`
/// in ascending order, starting from the value in `c`.
fn reference(
    a: impl Fn(usize, usize) -> f32,
    m: usize,
    k: usize,
    b: &[f32],
    n: usize,
    c: &mut [f32],
) {
    for i in 0..m {
        for j in 0..n {
            let mut v = c[i * n + j];
            for kk in 0..k {
                v = a(i, kk).mul_add(b[kk * n + j], v);
            }
            c[i * n + j] = v;
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Shapes `(m, n, k)` around the tile sizes (8 x 32, 6 x 16) and the depth
/// block (256), the train step's own (n = 4 classes, 128 hidden), and two
/// large enough to split across threads: by columns, past the AVX2 path's
/// row and column blocks (144 and 2048), and by rows (`c` too narrow).
const SHAPES: [(usize, usize, usize); 9] = [
    (150, 2100, 300),
    (512, 20, 1024),
    (1, 1, 1),
    (13, 37, 300),
    (8, 32, 256),
    (256, 4, 70),
    (20, 128, 513),
    (7, 17, 5),
    (64, 130, 64),
];

#[test]
fn every_path_gives_the_same_bits_as_the_contract() {
    let mut rng = Rng::new(3);
    let paths = Path::available();
    assert!(paths.contains(&Path::Portable));
    for &(m, n, k) in &SHAPES {
        // Pools of rows with 40 extra rows, gathered by a reversed index.
        let pool_rows = m.max(k) + 40;
        let index: Vec<u32> = (0..pool_rows as u32).rev().collect();
        let b = draw(&mut rng, k * n);
        let init = draw(&mut rng, m * n);
        // a = m gathered rows of width k.
        let pool = draw(&mut rng, pool_rows * k);
        let plain = Rows::gathered(&pool, k, &index[..m]);
        let mut want = init.clone();
        reference(
            |i, kk| pool[index[i] as usize * k + kk],
            m,
            k,
            &b,
            n,
            &mut want,
        );
        // a = the transpose of k gathered rows of width m.
        let pool_t = draw(&mut rng, pool_rows * m);
        let trans = Rows::gathered(&pool_t, m, &index[..k]);
        let mut want_t = init.clone();
        reference(
            |i, kk| pool_t[index[kk] as usize * m + i],
            m,
            k,
            &b,
            n,
            &mut want_t,
        );
        let mut bt = vec![0f32; k * n];
        for kk in 0..k {
            for j in 0..n {
                bt[j * k + kk] = b[kk * n + j];
            }
        }
        for &path in &paths {
            for threads in [1, 2, 3] {
                let mut got = init.clone();
                gemm_bt_on(path, Lhs::Rows(plain), &bt, n, &mut got, threads);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{path:?} rows, b transposed, {m}x{n}x{k} t{threads}"
                );
                let mut got = init.clone();
                gemm_on(path, Lhs::Rows(plain), &b, n, &mut got, threads);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{path:?} rows {m}x{n}x{k} t{threads}"
                );
                let mut got = init.clone();
                gemm_on(path, Lhs::Transposed(trans), &b, n, &mut got, threads);
                assert_eq!(
                    bits(&got),
                    bits(&want_t),
                    "{path:?} t {m}x{n}x{k} t{threads}"
                );
            }
        }
    }
}

#[test]
fn large_products_split_across_threads_keep_their_bits() {
    // Above PARALLEL_MIN_FMAS, so two threads really split the rows.
    let mut rng = Rng::new(4);
    let (m, n, k) = (256, 128, 1024);
    assert!(m * n * k >= PARALLEL_MIN_FMAS);
    let x = draw(&mut rng, m * k);
    let w = draw(&mut rng, k * n);
    let mut one = vec![0.0; m * n];
    gemm(Lhs::Rows(Rows::dense(&x, k)), &w, n, &mut one, 1);
    let mut two = vec![0.0; m * n];
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(|| gemm(Lhs::Rows(Rows::dense(&x, k)), &w, n, &mut two, 2));
    assert_eq!(bits(&one), bits(&two));
    let mut want = vec![0.0; m * n];
    reference(|i, kk| x[i * k + kk], m, k, &w, n, &mut want);
    assert_eq!(bits(&one), bits(&want));
}

#[test]
fn gathered_rows_are_the_named_rows() {
    let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let rows = Rows::gathered(&data, 3, &[3, 0, 3]);
    assert_eq!(rows.count(), 3);
    assert_eq!(rows.row(0), &[9.0, 10.0, 11.0]);
    assert_eq!(rows.row(1), &[0.0, 1.0, 2.0]);
    assert_eq!(Lhs::Transposed(rows).dims(), (3, 3));
}

#[test]
#[should_panic(expected = "row index out of range")]
fn an_index_past_the_rows_panics() {
    let data = [0.0f32; 6];
    let _ = Rows::gathered(&data, 3, &[2]);
}
