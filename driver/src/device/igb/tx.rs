//! The igb's transmit format: advanced data descriptors, and an advanced
//! context descriptor when the offload changes. The queue bookkeeping around
//! it is shared (`device::tx_queue`).
//!
//! Unlike the e1000's, the igb's context holds no per-frame length (PAYLEN is
//! in the first data descriptor), so one TSO context serves every frame of a
//! connection with the same MSS and header length.

use zcnic_ring::{AdvContext, AdvTxCmd, AdvTxDesc, AdvTxPopts, TxDescriptor};

use crate::device::tx_queue::{page_pieces, TxFormat};
use crate::device::{L4Protocol, TxFrame};
use crate::dma::DmaSpan;
use crate::error::Error;

/// The igb's descriptors.
pub(crate) struct IgbTx;

/// The context a frame asks for, if any.
fn context_of(frame: &TxFrame<'_>) -> Option<AdvContext> {
    let o = frame.offload?;
    Some(AdvContext {
        mac_len: o.ip_start,
        ip_len: u16::from(o.l4_start - o.ip_start),
        tcp: o.l4 == L4Protocol::Tcp,
        segmentation: frame.segmentation.map(|s| (s.header_len - o.l4_start, s.mss)),
    })
}

impl TxFormat for IgbTx {
    type Desc = AdvTxDesc;
    type Context = AdvContext;

    fn whole_frame(iova: u64, len: u16) -> AdvTxDesc {
        AdvTxDesc::data(iova, len, true, AdvTxPopts::empty(), false, u32::from(len))
    }

    fn ends_frame(desc: &AdvTxDesc) -> bool {
        desc.is_data() && desc.cmd().contains(AdvTxCmd::EOP)
    }

    fn needs_context(frame: &TxFrame<'_>, held: Option<AdvContext>) -> bool {
        let wanted = context_of(frame);
        wanted.is_some() && wanted != held
    }

    fn descriptors(
        header: DmaSpan,
        frame: &TxFrame<'_>,
        held: Option<AdvContext>,
        push: &mut dyn FnMut(AdvTxDesc) -> Result<(), Error>,
    ) -> Result<Option<AdvContext>, Error> {
        let context = context_of(frame);
        if let Some(wanted) = context.filter(|_| context != held) {
            push(AdvTxDesc::context(wanted))?;
        }
        assert!(frame.segmentation.is_none() || frame.offload.is_some(), "TCP segmentation needs a checksum offload");
        let payload_len: u32 = frame.payload.iter().map(|s| s.len()).sum();
        // PAYLEN: the whole frame, or with TSO what follows the headers the
        // NIC repeats (whatever else the header buffer holds included).
        let paylen = match frame.segmentation {
            Some(seg) => frame.header_len as u32 - u32::from(seg.header_len) + payload_len,
            None => frame.header_len as u32 + payload_len,
        };
        let popts = match frame.offload {
            Some(_) => AdvTxPopts::IXSM | AdvTxPopts::TXSM,
            None => AdvTxPopts::empty(),
        };
        let tso = frame.segmentation.is_some();
        let mut pieces = std::iter::once(header).chain(frame.payload.iter().copied().flat_map(page_pieces)).peekable();
        let mut first = true;
        while let Some(piece) = pieces.next() {
            let eop = pieces.peek().is_none();
            let len = u16::try_from(piece.len()).expect("pieces are at most a page");
            // The NIC takes POPTS and PAYLEN from a frame's first data descriptor.
            let (popts, paylen) = if first { (popts, paylen) } else { (AdvTxPopts::empty(), 0) };
            push(AdvTxDesc::data(piece.iova(), len, eop, popts, tso, paylen))?;
            first = false;
        }
        Ok(context.or(held))
    }
}

// The ring's view of these descriptors must agree with the NIC's.
const _: fn() = || {
    fn is_tx_descriptor<D: TxDescriptor>() {}
    is_tx_descriptor::<AdvTxDesc>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::frame::Segmentation;
    use crate::device::ChecksumOffload;

    fn tcp() -> ChecksumOffload {
        ChecksumOffload {
            ip_start: 14,
            ip_checksum: 24,
            ip_end: 33,
            l4_start: 34,
            l4_checksum: 50,
            l4: L4Protocol::Tcp,
        }
    }

    fn descriptors(frame: &TxFrame<'_>, held: Option<AdvContext>) -> (Vec<AdvTxDesc>, Option<AdvContext>) {
        let header = DmaSpan::for_tests(0x20_0000, frame.header_len as u32);
        let mut out = Vec::new();
        let after = IgbTx::descriptors(header, frame, held, &mut |d| {
            out.push(d);
            Ok(())
        })
        .unwrap();
        (out, after)
    }

    #[test]
    fn a_tso_frame_has_one_context_then_data_with_paylen_and_popts_on_the_first() {
        let payload = [DmaSpan::for_tests(0x4000_0800, 65536)];
        let seg = Some(Segmentation { mss: 1460, header_len: 54 });
        let frame = TxFrame { header_len: 54 + 10, payload: &payload, offload: Some(tcp()), segmentation: seg };
        let (d, held) = descriptors(&frame, None);
        assert!(!d[0].is_data(), "context first");
        assert_eq!(
            d[0],
            AdvTxDesc::context(AdvContext { mac_len: 14, ip_len: 20, tcp: true, segmentation: Some((20, 1460)) })
        );
        let data = &d[1..];
        assert_eq!(data.len(), 1 + 17, "header, then 64 KiB from mid-page: 17 pieces");
        assert_eq!(data[0].paylen(), 10 + 65536, "PAYLEN: the bytes after the repeated headers");
        assert_eq!(data[0].popts(), AdvTxPopts::IXSM | AdvTxPopts::TXSM);
        assert!(data[1..].iter().all(|x| x.paylen() == 0 && x.popts().is_empty()), "olinfo only on the first");
        assert!(data.iter().all(|x| x.cmd().contains(AdvTxCmd::TSE | AdvTxCmd::DEXT | AdvTxCmd::IFCS)));
        assert_eq!(data.iter().filter(|x| x.cmd().contains(AdvTxCmd::EOP)).count(), 1);
        assert!(data.last().unwrap().cmd().contains(AdvTxCmd::EOP));
        assert_eq!(data.iter().map(|x| u32::from(x.data_len())).sum::<u32>(), 64 + 65536);
        // The next frame of the same connection reuses the context.
        let (again, _) = descriptors(&frame, held);
        assert!(again[0].is_data(), "no second context for the same MSS and headers");
    }

    #[test]
    fn a_plain_frame_is_one_descriptor_and_keeps_the_context() {
        let held = Some(AdvContext { mac_len: 14, ip_len: 20, tcp: false, segmentation: None });
        let frame = TxFrame { header_len: 60, payload: &[], offload: None, segmentation: None };
        let (d, after) = descriptors(&frame, held);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].paylen(), d[0].popts()), (60, AdvTxPopts::empty()));
        assert_eq!(after, held, "a frame without offload leaves the NIC's context as it was");
        let whole = IgbTx::whole_frame(0x1000, 60);
        assert!(IgbTx::ends_frame(&whole) && whole.paylen() == 60);
    }

    #[test]
    fn a_change_of_offload_brings_a_new_context() {
        let udp = ChecksumOffload { l4: L4Protocol::Udp, l4_checksum: 40, ..tcp() };
        let payload = [DmaSpan::for_tests(0x4000_0000, 1472)];
        let frame = TxFrame { header_len: 42, payload: &payload, offload: Some(udp), segmentation: None };
        let tso_held = Some(AdvContext { mac_len: 14, ip_len: 20, tcp: true, segmentation: Some((20, 1460)) });
        assert!(IgbTx::needs_context(&frame, tso_held));
        let (d, after) = descriptors(&frame, tso_held);
        assert!(!d[0].is_data());
        assert_eq!(d[1].paylen(), 42 + 1472);
        assert!(!IgbTx::needs_context(&frame, after));
    }
}
