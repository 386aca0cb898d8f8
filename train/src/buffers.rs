//! Borrowed host buffers of f32 CPU tensors, for the CPU kernels.

use candle_core::{CpuStorage, Layout, Storage, StorageRef, Tensor};

/// Read access to the values of some tensors, all f32, contiguous and on
/// the CPU: holds their storage locks while the slices are in use.
pub(crate) struct HostView<'t> {
    held: Vec<(StorageRef<'t>, &'t Layout)>,
}

impl<'t> HostView<'t> {
    /// The tensors' storage, or `None` if any of them is not an f32,
    /// contiguous CPU tensor (the caller then takes the candle-op path).
    pub(crate) fn new(tensors: impl IntoIterator<Item = &'t Tensor>) -> Option<Self> {
        let mut held = Vec::new();
        for t in tensors {
            if !t.device().is_cpu() || !t.is_contiguous() {
                return None;
            }
            let (storage, layout) = t.storage_and_layout();
            if !matches!(&*storage, Storage::Cpu(CpuStorage::F32(_))) {
                return None;
            }
            held.push((storage, layout));
        }
        Some(Self { held })
    }

    /// The values of each tensor, in the order given to [`HostView::new`].
    pub(crate) fn slices(&self) -> Vec<&[f32]> {
        self.held
            .iter()
            .map(|(storage, layout)| {
                let Storage::Cpu(CpuStorage::F32(values)) = &**storage else {
                    unreachable!("checked in HostView::new");
                };
                let (start, end) = layout
                    .contiguous_offsets()
                    .expect("checked in HostView::new");
                &values[start..end]
            })
            .collect()
    }
}
