//! Rank-2 f32 matrix products for the fused train step, on the CPU.
//!
//! candle's CPU matmul asks `candle_core::utils::get_num_threads()` for its
//! thread count on every call; on Linux machines without per-CPU
//! `cpu_capacity` (most VMs), and without `RAYON_NUM_THREADS` set, that
//! parses `/proc/cpuinfo` each time (`num_cpus::get_physical`). Profiling
//! `w2s-bench` on a 2-vCPU VM put that parse at about 15% of a training
//! run. [`matmul`] makes the same `gemm` call as candle 0.11 (same
//! arguments, strides and parallelism, so bit-identical results; the test
//! `same_bits_as_candle` checks it), with the thread count read once per
//! process. Anything that is not an f32 CPU tensor goes to candle.

use std::sync::OnceLock;

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};
use gemm::Parallelism;

use crate::error::Result;

/// candle's thread count, read once (it does not change within a process:
/// rayon's global pool is built once from the same value).
fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(candle_core::utils::get_num_threads)
}

/// The highest element offset a rank-2 layout reaches, plus one.
fn extent(layout: &Layout) -> usize {
    let (dims, stride) = (layout.dims(), layout.stride());
    layout.start_offset() + (dims[0] - 1) * stride[0] + (dims[1] - 1) * stride[1] + 1
}

/// `a (m, k) x b (k, n)`. Same result as `a.matmul(b)`, bit for bit.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (m, k) = a.dims2()?;
    let (k2, n) = b.dims2()?;
    let cpu_f32 = a.device().is_cpu()
        && b.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32;
    if !cpu_f32 || k != k2 || m == 0 || n == 0 || k == 0 {
        return Ok(a.matmul(b)?);
    }
    let mut dst = vec![0f32; m * n];
    {
        let (sa, la) = a.storage_and_layout();
        let (sb, lb) = b.storage_and_layout();
        let (Storage::Cpu(CpuStorage::F32(va)), Storage::Cpu(CpuStorage::F32(vb))) = (&*sa, &*sb)
        else {
            return Ok(a.matmul(b)?);
        };
        // The bounds gemm relies on, checked rather than assumed.
        assert!(extent(la) <= va.len() && extent(lb) <= vb.len());
        let (lhs, rhs) = (&va[la.start_offset()..], &vb[lb.start_offset()..]);
        let (ls, rs) = (la.stride(), lb.stride());
        let parallelism = match threads() {
            t if t > 1 => Parallelism::Rayon(t),
            _ => Parallelism::None,
        };
        // SAFETY: `dst` holds m * n values written with row stride n and
        // column stride 1; `lhs` and `rhs` cover every offset their (m, k)
        // and (k, n) layouts reach (asserted above). `alpha` is unused
        // (`read_dst` false). This is candle 0.11's own call
        // (`cpu_backend::MatMul`), made without its per-call thread probe.
        #[allow(unsafe_code)]
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.as_ptr(),
                ls[1] as isize,
                ls[0] as isize,
                rhs.as_ptr(),
                rs[1] as isize,
                rs[0] as isize,
                0f32,
                1f32,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    Ok(Tensor::from_vec(dst, (m, n), a.device())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn same_bits_as_candle() {
        let dev = Device::Cpu;
        let mut rng = crate::rng::Rng::new(11);
        let mut draw = |r: usize, c: usize| {
            let v: Vec<f32> = (0..r * c).map(|_| rng.normal() as f32).collect();
            Tensor::from_vec(v, (r, c), &dev).unwrap()
        };
        let x = draw(300, 200);
        let w = draw(200, 70);
        let d = draw(300, 70);
        // Contiguous, transposed lhs, transposed rhs, and a narrowed view.
        assert_eq!(bits(&matmul(&x, &w).unwrap()), bits(&x.matmul(&w).unwrap()));
        let xt = x.t().unwrap();
        assert_eq!(
            bits(&matmul(&xt, &d).unwrap()),
            bits(&xt.matmul(&d).unwrap())
        );
        let wt = w.t().unwrap();
        assert_eq!(
            bits(&matmul(&d, &wt).unwrap()),
            bits(&d.matmul(&wt).unwrap())
        );
        let part = x.narrow(0, 10, 50).unwrap();
        assert_eq!(
            bits(&matmul(&part, &w).unwrap()),
            bits(&part.matmul(&w).unwrap())
        );
    }
}
