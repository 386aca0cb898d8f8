//! Student architectures and the limits a task's policy puts on them.

use crate::bindings::w2s::strategy::types as wit;

/// The architecture of a student head over the task's frozen strong
/// features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// A linear probe: features -> classes.
    Linear,
    /// A two-layer perceptron: features -> hidden (ReLU) -> classes.
    Mlp {
        /// Hidden width.
        hidden: u32,
    },
}

/// Architecture families, without their sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchFamily {
    /// Linear probes.
    Linear,
    /// Two-layer perceptrons.
    Mlp,
}

/// One architecture family the task allows, with its size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchLimit {
    /// The family this limit allows.
    pub family: ArchFamily,
    /// Largest hidden width allowed (0 for linear).
    pub max_hidden: u32,
}

impl Arch {
    /// A two-layer perceptron with the given hidden width.
    pub fn mlp(hidden: u32) -> Self {
        Self::Mlp { hidden }
    }

    /// This architecture's family.
    pub fn family(self) -> ArchFamily {
        match self {
            Self::Linear => ArchFamily::Linear,
            Self::Mlp { .. } => ArchFamily::Mlp,
        }
    }

    /// Whether one of `limits` allows this architecture.
    pub fn is_allowed(self, limits: &[ArchLimit]) -> bool {
        limits.iter().any(|limit| limit.allows(self))
    }

    /// This architecture if one of `limits` allows it, otherwise the largest
    /// allowed one: the widest allowed MLP, else a linear probe. `None` when
    /// `limits` allows nothing.
    pub fn within(self, limits: &[ArchLimit]) -> Option<Self> {
        if self.is_allowed(limits) {
            return Some(self);
        }
        largest_allowed(limits)
    }
}

impl ArchLimit {
    /// Whether this limit allows `arch`.
    pub fn allows(&self, arch: Arch) -> bool {
        match (self.family, arch) {
            (ArchFamily::Linear, Arch::Linear) => true,
            (ArchFamily::Mlp, Arch::Mlp { hidden }) => hidden > 0 && hidden <= self.max_hidden,
            _ => false,
        }
    }

    /// The largest architecture this limit allows, if any (an MLP limit with
    /// `max_hidden == 0` allows nothing).
    pub fn largest(&self) -> Option<Arch> {
        match self.family {
            ArchFamily::Linear => Some(Arch::Linear),
            ArchFamily::Mlp if self.max_hidden > 0 => Some(Arch::mlp(self.max_hidden)),
            ArchFamily::Mlp => None,
        }
    }
}

/// The largest architecture `limits` allows: the widest MLP, else a linear
/// probe; `None` when `limits` allows nothing.
pub fn largest_allowed(limits: &[ArchLimit]) -> Option<Arch> {
    limits
        .iter()
        .filter_map(ArchLimit::largest)
        .max_by_key(|arch| match arch {
            Arch::Linear => 0,
            Arch::Mlp { hidden } => u64::from(*hidden) + 1,
        })
}

impl From<Arch> for wit::Arch {
    fn from(arch: Arch) -> Self {
        match arch {
            Arch::Linear => wit::Arch::Linear,
            Arch::Mlp { hidden } => wit::Arch::Mlp(wit::Mlp { hidden }),
        }
    }
}

impl From<wit::Arch> for Arch {
    fn from(arch: wit::Arch) -> Self {
        match arch {
            wit::Arch::Linear => Arch::Linear,
            wit::Arch::Mlp(wit::Mlp { hidden }) => Arch::Mlp { hidden },
        }
    }
}

impl From<wit::ArchLimit> for ArchLimit {
    fn from(limit: wit::ArchLimit) -> Self {
        Self {
            family: match limit.family {
                wit::ArchFamily::Linear => ArchFamily::Linear,
                wit::ArchFamily::Mlp => ArchFamily::Mlp,
            },
            max_hidden: limit.max_hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINEAR: ArchLimit = ArchLimit {
        family: ArchFamily::Linear,
        max_hidden: 0,
    };

    fn mlp_up_to(max_hidden: u32) -> ArchLimit {
        ArchLimit {
            family: ArchFamily::Mlp,
            max_hidden,
        }
    }

    #[test]
    fn allowed_architecture_is_kept() {
        let limits = [LINEAR, mlp_up_to(256)];
        assert_eq!(Arch::mlp(128).within(&limits), Some(Arch::mlp(128)));
    }

    #[test]
    fn too_wide_mlp_falls_back_to_widest_allowed() {
        let limits = [LINEAR, mlp_up_to(64)];
        assert_eq!(Arch::mlp(128).within(&limits), Some(Arch::mlp(64)));
    }

    #[test]
    fn linear_only_policy_gives_linear() {
        assert_eq!(Arch::mlp(128).within(&[LINEAR]), Some(Arch::Linear));
        assert_eq!(Arch::mlp(128).within(&[mlp_up_to(0)]), None);
        assert_eq!(Arch::Linear.within(&[]), None);
    }

    #[test]
    fn zero_width_mlp_is_never_allowed() {
        assert!(!mlp_up_to(8).allows(Arch::mlp(0)));
    }
}
