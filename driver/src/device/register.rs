//! Typed device registers.
//!
//! A register is declared once, as a constant [`Reg`] that carries its BAR
//! offset, the type of its value and its access:
//!
//! ```text
//! pub(crate) const RCTL: Reg<Rctl, ReadWrite> = Reg::at(0x0100);
//! pub(crate) const ICR: Reg<Interrupts, ReadClears> = Reg::at(0x00c0);
//! ```
//!
//! so that `regs.write(RCTL, Tctl::EN)` does not compile (RCTL takes `Rctl`
//! bits), a write-only register cannot be read, and a register whose read has
//! a side effect can only be read with [`Registers::take`], which says so.
//!
//! Every access goes through the [`RegisterIo`] seam: the mapped BAR
//! implements it with volatile 32-bit accesses, and unit tests implement it
//! with a register-level fake of the device.

use std::marker::PhantomData;

use crate::sys::bar::Bar;

/// Raw 32-bit register access at a byte offset: the one seam between the
/// device logic and the device (or a fake of it).
pub(crate) trait RegisterIo {
    /// Read the register at `offset`.
    fn read32(&self, offset: u32) -> u32;
    /// Write the register at `offset`.
    fn write32(&self, offset: u32, value: u32);
}

impl RegisterIo for Bar {
    fn read32(&self, offset: u32) -> u32 {
        Bar::read32(self, offset)
    }
    fn write32(&self, offset: u32, value: u32) {
        Bar::write32(self, offset, value)
    }
}

impl RegisterIo for crate::vfio::IoBar {
    fn read32(&self, offset: u32) -> u32 {
        self.read_register(offset)
    }
    fn write32(&self, offset: u32, value: u32) {
        self.write_register(offset, value)
    }
}

/// A register's value type: `u32` for plain numbers (addresses, lengths,
/// indexes, counters), a `bitflags` type for registers made of named bits.
pub(crate) trait RegValue: Copy {
    /// The value from the register's raw bits (unknown bits kept).
    fn from_raw(raw: u32) -> Self;
    /// The raw bits to write.
    fn raw(self) -> u32;
}

impl RegValue for u32 {
    fn from_raw(raw: u32) -> Self {
        raw
    }
    fn raw(self) -> u32 {
        self
    }
}

/// Implements [`RegValue`] for `bitflags` types over `u32`.
macro_rules! register_bits {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::device::register::RegValue for $t {
            fn from_raw(raw: u32) -> Self {
                <$t>::from_bits_retain(raw)
            }
            fn raw(self) -> u32 {
                self.bits()
            }
        }
    )*};
}
pub(crate) use register_bits;

/// Access markers.
pub(crate) mod access {
    /// Reads have no side effect; writes are not allowed (status registers).
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct ReadOnly;
    /// Writes only: reading is meaningless or not allowed (mask set/clear, doorbells).
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct WriteOnly;
    /// Plain read and write (control registers).
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct ReadWrite;
    /// Reading returns the value *and clears it* (interrupt causes,
    /// statistics): only [`Registers::take`](super::Registers::take) reads it.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct ReadClears;

    /// Access that allows a plain read.
    pub(crate) trait Readable {}
    impl Readable for ReadOnly {}
    impl Readable for ReadWrite {}
    /// Access that allows a write.
    pub(crate) trait Writable {}
    impl Writable for WriteOnly {}
    impl Writable for ReadWrite {}
}

use access::{ReadClears, Readable, Writable};

/// A register at a fixed BAR offset holding a `V`, with access `A`.
#[derive(Debug)]
pub(crate) struct Reg<V, A> {
    offset: u32,
    _value: PhantomData<fn() -> (V, A)>,
}

impl<V, A> Clone for Reg<V, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V, A> Copy for Reg<V, A> {}

impl<V, A> Reg<V, A> {
    /// The register at byte `offset` of the BAR.
    pub(crate) const fn at(offset: u32) -> Self {
        Reg { offset, _value: PhantomData }
    }

    /// Its BAR offset.
    #[cfg(test)]
    pub(crate) const fn offset(self) -> u32 {
        self.offset
    }
}

/// `count` registers of one kind, `stride` bytes apart (the multicast table,
/// receive-address pairs).
#[derive(Debug)]
pub(crate) struct RegArray<V, A> {
    base: u32,
    stride: u32,
    count: u32,
    _value: PhantomData<fn() -> (V, A)>,
}

impl<V, A> RegArray<V, A> {
    pub(crate) const fn new(base: u32, stride: u32, count: u32) -> Self {
        RegArray { base, stride, count, _value: PhantomData }
    }

    /// Number of registers.
    pub(crate) const fn len(&self) -> u32 {
        self.count
    }

    /// Register `i` (panics outside the array).
    pub(crate) fn at(&self, i: u32) -> Reg<V, A> {
        assert!(i < self.count, "register index {i} outside an array of {}", self.count);
        Reg::at(self.base + i * self.stride)
    }
}

/// Typed access on top of [`RegisterIo`]; every `RegisterIo` has it.
pub(crate) trait Registers: RegisterIo {
    /// Read a register whose read has no side effect.
    fn read<V: RegValue, A: Readable>(&self, reg: Reg<V, A>) -> V {
        V::from_raw(self.read32(reg.offset))
    }

    /// Write a register.
    fn write<V: RegValue, A: Writable>(&self, reg: Reg<V, A>, value: V) {
        self.write32(reg.offset, value.raw())
    }

    /// Read, change, write back.
    fn modify<V: RegValue, A: Readable + Writable>(&self, reg: Reg<V, A>, change: impl FnOnce(V) -> V) {
        let v = self.read(reg);
        self.write(reg, change(v))
    }

    /// Read a register that clears on read: the value is returned and the
    /// device's copy is gone.
    fn take<V: RegValue>(&self, reg: Reg<V, ReadClears>) -> V {
        V::from_raw(self.read32(reg.offset))
    }
}

impl<T: RegisterIo + ?Sized> Registers for T {}

#[cfg(test)]
pub(crate) mod fake {
    //! A register file in memory, for unit tests that play the device.

    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::RegisterIo;

    /// Registers as a map from offset to value, with a log of every access.
    #[derive(Default)]
    pub(crate) struct FakeRegisters {
        values: RefCell<HashMap<u32, u32>>,
        log: RefCell<Vec<Access>>,
        /// What a write to an offset stores, when not the value written.
        on_write: RefCell<HashMap<u32, WriteHook>>,
    }

    type WriteHook = Box<dyn Fn(u32) -> u32>;

    /// One access, as the device saw it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Access {
        Read(u32, u32),
        Write(u32, u32),
    }

    impl FakeRegisters {
        /// Set a register's value without logging an access.
        pub(crate) fn set(&self, offset: u32, value: u32) {
            self.values.borrow_mut().insert(offset, value);
        }

        /// A register's value now.
        pub(crate) fn get(&self, offset: u32) -> u32 {
            self.values.borrow().get(&offset).copied().unwrap_or(0)
        }

        /// From now on a write of `v` to `offset` stores `hook(v)` (a bit
        /// the device never sets, a field it ignores).
        pub(crate) fn on_write(&self, offset: u32, hook: impl Fn(u32) -> u32 + 'static) {
            self.on_write.borrow_mut().insert(offset, Box::new(hook));
        }

        /// Every access so far, in order.
        pub(crate) fn log(&self) -> Vec<Access> {
            self.log.borrow().clone()
        }

        /// Values written to `offset`, in order.
        pub(crate) fn writes_to(&self, offset: u32) -> Vec<u32> {
            self.log()
                .into_iter()
                .filter_map(|a| match a {
                    Access::Write(o, v) if o == offset => Some(v),
                    _ => None,
                })
                .collect()
        }
    }

    impl RegisterIo for FakeRegisters {
        fn read32(&self, offset: u32) -> u32 {
            let v = self.get(offset);
            self.log.borrow_mut().push(Access::Read(offset, v));
            v
        }

        fn write32(&self, offset: u32, value: u32) {
            self.log.borrow_mut().push(Access::Write(offset, value));
            let stored = self.on_write.borrow().get(&offset).map_or(value, |hook| hook(value));
            self.set(offset, stored);
        }
    }
}
