//! Sending frames the CPU builds itself, a batch per doorbell.

use super::ETH_HEADER_LEN;
use super::{Nic, TxFrame, MAX_FRAME_LEN};
use crate::error::Error;

/// A batch of frames being built in driver buffers; the NIC's doorbell is
/// rung once, when the batch is sent or dropped.
///
/// ```no_run
/// # fn f(nic: &mut zcnic_driver::Nic) -> Result<(), zcnic_driver::Error> {
/// let mut batch = nic.tx_batch()?;
/// while let Some(buf) = batch.frame_buffer() {
///     buf[..60].fill(0xff);
///     batch.push(60)?;
/// }
/// batch.send()?;
/// # Ok(()) }
/// ```
pub struct TxBatch<'a> {
    nic: &'a mut Nic,
    rung: bool,
}

impl<'a> TxBatch<'a> {
    pub(super) fn new(nic: &'a mut Nic) -> Self {
        TxBatch { nic, rung: false }
    }

    /// Frames that can still be added to this batch.
    pub fn room(&self) -> usize {
        self.nic.tx_room(0)
    }

    /// The buffer for the next frame (1514 bytes), or `None` if the ring is
    /// full. Write the frame from byte 0, then call [`push`](Self::push).
    pub fn frame_buffer(&mut self) -> Option<&mut [u8]> {
        self.nic.tx_header_buffer()
    }

    /// Queue the frame written into the last [`frame_buffer`](Self::frame_buffer):
    /// its first `len` bytes (14 to 1514; frames under 60 bytes are zero-padded).
    pub fn push(&mut self, len: usize) -> Result<(), Error> {
        if !(ETH_HEADER_LEN..=MAX_FRAME_LEN).contains(&len) {
            return Err(Error::BadFrameLength { len, min: ETH_HEADER_LEN, max: MAX_FRAME_LEN });
        }
        self.nic.tx_post(&TxFrame { header_len: len, payload: &[], offload: None, segmentation: None })
    }

    /// Copy `frame` into the next buffer and queue it. A convenience for
    /// callers that already hold the frame elsewhere (it costs one copy).
    pub fn push_copy(&mut self, frame: &[u8]) -> Result<(), Error> {
        let n = frame.len();
        if !(ETH_HEADER_LEN..=MAX_FRAME_LEN).contains(&n) {
            return Err(Error::BadFrameLength { len: n, min: ETH_HEADER_LEN, max: MAX_FRAME_LEN });
        }
        let buf = self.nic.tx_header_buffer().ok_or(Error::TxRingFull)?;
        buf[..n].copy_from_slice(frame);
        self.push(n)
    }

    /// Ring the doorbell for the frames pushed so far (dropping the batch
    /// does the same, without the error).
    pub fn send(mut self) -> Result<(), Error> {
        self.rung = true;
        self.nic.tx_doorbell()
    }
}

impl Drop for TxBatch<'_> {
    fn drop(&mut self) {
        if !self.rung {
            // A halted NIC refuses the doorbell; nothing else can fail here.
            let _ = self.nic.tx_doorbell();
        }
    }
}
