//! A file as a stream transport (TCP) sends it: byte ranges, pinned a window
//! at a time when first needed, and kept until every byte in a window is
//! both acknowledged by the peer and no longer referenced by a descriptor
//! the NIC has not completed (a retransmission may still be in the ring when
//! the ACK of the original arrives).

use std::collections::VecDeque;
use std::sync::Arc;

use super::source::FileSource;
use super::window::pin_file_range;
use crate::dma::{DmaMapping, DmaSpan};
use crate::error::Error;
use crate::vfio::Container;

/// One pinned window: file bytes `start..start + len`.
#[derive(Debug)]
struct Window {
    /// File offset of the first mapped byte (page-aligned).
    start: u64,
    mapping: DmaMapping,
    /// The NIC's completed-frame count that releases it: every frame posted
    /// from it has a sequence number below this.
    busy_until_frame: u64,
}

impl Window {
    fn end(&self) -> u64 {
        self.start + self.mapping.len() as u64
    }
}

/// A file's windows for one stream.
#[derive(Debug)]
pub(crate) struct PinnedFile {
    source: FileSource,
    container: Arc<Container>,
    window_bytes: u64,
    windows: VecDeque<Window>,
}

/// Split `offset..offset + len` at multiples of `window`: the pieces each
/// lie inside one window.
pub(crate) fn window_pieces(offset: u64, len: u64, window: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = offset + len;
    let mut at = offset;
    std::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let piece_end = ((at / window + 1) * window).min(end);
        let piece = (at, piece_end - at);
        at = piece_end;
        Some(piece)
    })
}

impl PinnedFile {
    /// Stream `source` with windows of `window_bytes` (a multiple of 4 KiB).
    pub(crate) fn new(source: FileSource, container: Arc<Container>, window_bytes: u64) -> Self {
        assert!(window_bytes > 0 && window_bytes % 4096 == 0, "windows are whole pages");
        PinnedFile { source, container, window_bytes, windows: VecDeque::new() }
    }

    /// Bytes pinned now.
    pub(crate) fn pinned_bytes(&self) -> u64 {
        self.windows.iter().map(|w| w.mapping.len() as u64).sum()
    }

    /// The completed-frame count after which no window is referenced by a
    /// frame the NIC has not completed.
    pub(crate) fn busy_until_frame(&self) -> u64 {
        self.windows.iter().map(|w| w.busy_until_frame).max().unwrap_or(0)
    }

    /// Bytes that pinning file range `range` would add (whole windows not pinned yet).
    pub(crate) fn unpinned_bytes(&self, range: std::ops::Range<u64>) -> u64 {
        window_pieces(range.start, range.end.saturating_sub(range.start), self.window_bytes)
            .filter(|&(at, _)| !self.windows.iter().any(|w| w.start <= at && at < w.end()))
            .map(|(at, _)| {
                let start = at / self.window_bytes * self.window_bytes;
                (start + self.window_bytes).min(self.source.len()) - start
            })
            .sum()
    }

    /// The DMA spans of file bytes `offset..offset + len` (inside the file),
    /// pinning windows as needed, for a frame the caller will post as the
    /// NIC's frame number `frame`. The spans stay valid until
    /// [`release`](Self::release) lets their window go.
    pub(crate) fn spans(&mut self, offset: u64, len: u64, frame: u64, out: &mut Vec<DmaSpan>) -> Result<(), Error> {
        assert!(offset + len <= self.source.len(), "a range past the end of the file");
        for (at, n) in window_pieces(offset, len, self.window_bytes) {
            let window = self.window_for(at)?;
            window.busy_until_frame = window.busy_until_frame.max(frame + 1);
            let n = u32::try_from(n).expect("a piece is under one window");
            out.push(window.mapping.span((at - window.start) as usize, n));
        }
        Ok(())
    }

    fn window_for(&mut self, at: u64) -> Result<&mut Window, Error> {
        if let Some(i) = self.windows.iter().position(|w| w.start <= at && at < w.end()) {
            return Ok(&mut self.windows[i]);
        }
        let start = at / self.window_bytes * self.window_bytes;
        let end = (start + self.window_bytes).min(self.source.len());
        let (map_start, mapping) = pin_file_range(&self.source, &self.container, start, end)?;
        debug_assert_eq!(map_start, start);
        let pos = self.windows.partition_point(|w| w.start < start);
        self.windows.insert(pos, Window { start, mapping, busy_until_frame: 0 });
        Ok(&mut self.windows[pos])
    }

    /// Let go of the windows wholly below `acked` (the peer has every byte
    /// in them) whose frames the NIC has all completed (`completed_frames`
    /// is the NIC's in-order completion count).
    pub(crate) fn release(&mut self, acked: u64, completed_frames: u64) {
        self.windows.retain(|w| !(w.end().min(self.source.len()) <= acked && w.busy_until_frame <= completed_frames));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_at_window_boundaries() {
        let w = 1 << 20;
        assert_eq!(window_pieces(0, 100, w).collect::<Vec<_>>(), vec![(0, 100)]);
        assert_eq!(window_pieces(w - 10, 30, w).collect::<Vec<_>>(), vec![(w - 10, 10), (w, 20)]);
        assert_eq!(window_pieces(5, 0, w).count(), 0);
        let big: Vec<_> = window_pieces(3, 3 * w, w).collect();
        assert_eq!(big.len(), 4);
        assert_eq!(big.iter().map(|p| p.1).sum::<u64>(), 3 * w);
        assert!(big.iter().all(|&(at, n)| at / w == (at + n - 1) / w));
    }
}
