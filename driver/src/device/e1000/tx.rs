//! The e1000 family's transmit format: legacy descriptors for whole frames,
//! TCP/IP context and extended data descriptors for checksum offload and TSO.
//! The queue bookkeeping around it is shared (`device::tx_queue`).

use zcnic_ring::{TxCmd, TxDesc, TxPopts};

use crate::device::tx_queue::{page_pieces, TxFormat};
use crate::device::{ChecksumOffload, L4Protocol, TxFrame};
use crate::dma::DmaSpan;
use crate::error::Error;

/// The e1000 family's descriptors.
pub(crate) struct E1000Tx;

impl TxFormat for E1000Tx {
    type Desc = TxDesc;
    /// The checksum context; a TSO context is per frame and leaves none.
    type Context = ChecksumOffload;

    fn whole_frame(iova: u64, len: u16) -> TxDesc {
        TxDesc::single_buffer_frame(iova, len)
    }

    fn ends_frame(desc: &TxDesc) -> bool {
        desc.cmd.contains(TxCmd::EOP)
    }

    /// A TSO frame always brings its own context (PAYLEN is in it); a
    /// checksum offload needs one unless the NIC holds the same.
    fn needs_context(frame: &TxFrame<'_>, held: Option<ChecksumOffload>) -> bool {
        frame.segmentation.is_some() || (frame.offload.is_some() && frame.offload != held)
    }

    fn descriptors(
        header: DmaSpan,
        frame: &TxFrame<'_>,
        held: Option<ChecksumOffload>,
        push: &mut dyn FnMut(TxDesc) -> Result<(), Error>,
    ) -> Result<Option<ChecksumOffload>, Error> {
        for_each_descriptor(header, frame, held, push)?;
        // After a TSO context the NIC holds no reusable checksum context.
        Ok(if frame.segmentation.is_some() { None } else { frame.offload.or(held) })
    }
}

/// The descriptors of a frame whose headers are at `header`, in order: a
/// context descriptor first if the frame asks for an offload the NIC does not
/// hold (`context`), then extended data descriptors for the header and every
/// 4 KiB piece of the payload, EOP on the last, POPTS on all.
fn for_each_descriptor(
    header: DmaSpan,
    frame: &TxFrame<'_>,
    context: Option<ChecksumOffload>,
    push: &mut dyn FnMut(TxDesc) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut popts = TxPopts::empty();
    match (frame.offload, frame.segmentation) {
        (Some(o), Some(seg)) => {
            // PAYLEN: everything after the protocol headers, in the header
            // buffer (e.g. HTTP headers) and in the payload spans.
            let in_buffer = frame.header_len as u32 - u32::from(seg.header_len);
            let payload_len: u32 = in_buffer + frame.payload.iter().map(|s| s.len()).sum::<u32>();
            push(TxDesc::tso_context(
                o.ip_start,
                o.ip_checksum,
                o.ip_end,
                o.l4_start,
                o.l4_checksum,
                seg.header_len,
                seg.mss,
                payload_len,
            ))?;
            popts = TxPopts::IXSM | TxPopts::TXSM;
        }
        (Some(o), None) => {
            if context != Some(o) {
                push(context_descriptor(&o))?;
            }
            popts = TxPopts::IXSM | TxPopts::TXSM;
        }
        (None, Some(_)) => panic!("TCP segmentation needs a checksum offload"),
        (None, None) => {}
    }
    let mut pieces = std::iter::once(header).chain(frame.payload.iter().copied().flat_map(page_pieces)).peekable();
    while let Some(piece) = pieces.next() {
        let eop = pieces.peek().is_none();
        let len = u16::try_from(piece.len()).expect("pieces are at most a page");
        let desc = TxDesc::extended_data(piece.iova(), len, eop, popts);
        push(if frame.segmentation.is_some() { desc.segmented() } else { desc })?;
    }
    Ok(())
}

/// The e1000's TCP/IP context descriptor for `offload`.
fn context_descriptor(o: &ChecksumOffload) -> TxDesc {
    TxDesc::tcpip_context(o.ip_start, o.ip_checksum, o.ip_end, o.l4_start, o.l4_checksum, o.l4 == L4Protocol::Udp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::frame::Segmentation;

    fn udp() -> ChecksumOffload {
        ChecksumOffload {
            ip_start: 14,
            ip_checksum: 24,
            ip_end: 33,
            l4_start: 34,
            l4_checksum: 40,
            l4: L4Protocol::Udp,
        }
    }

    fn descriptors(frame: &TxFrame<'_>, context: Option<ChecksumOffload>) -> Vec<TxDesc> {
        let header = DmaSpan::for_tests(0x20_0000, frame.header_len as u32);
        let mut out = Vec::new();
        for_each_descriptor(header, frame, context, &mut |d| {
            out.push(d);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_zero_copy_datagram_is_context_header_and_page_pieces_with_eop_last() {
        let payload = [DmaSpan::for_tests(0x4000_0f00, 1472)];
        let frame = TxFrame { header_len: 42, payload: &payload, offload: Some(udp()), segmentation: None };
        let d = descriptors(&frame, None);
        assert_eq!(d.len(), 4, "context, header, two pieces: {d:?}");
        assert_eq!(d[0], context_descriptor(&udp()));
        let data: Vec<(u64, u16, bool)> =
            d[1..].iter().map(|x| (x.buffer_addr, x.length, x.cmd.contains(TxCmd::EOP))).collect();
        assert_eq!(data, vec![(0x20_0000, 42, false), (0x4000_0f00, 256, false), (0x4000_1000, 1216, true)]);
        assert!(
            d[1..].iter().all(|x| x.css == (TxPopts::IXSM | TxPopts::TXSM).bits()),
            "POPTS on every data descriptor"
        );
        // The NIC keeps the context: the next datagram of the flow needs none.
        assert_eq!(descriptors(&frame, Some(udp())).len(), 3);
    }

    #[test]
    fn a_tso_frame_brings_its_own_context_and_marks_every_data_descriptor() {
        let tcp = ChecksumOffload { l4: L4Protocol::Tcp, l4_checksum: 50, ..udp() };
        // 64 KiB of payload from a page-aligned IOVA: 16 pieces.
        let payload = [DmaSpan::for_tests(0x4000_0000, 65536)];
        let seg = Some(Segmentation { mss: 1460, header_len: 54 });
        let frame = TxFrame { header_len: 54, payload: &payload, offload: Some(tcp), segmentation: seg };
        let d = descriptors(&frame, Some(tcp));
        assert_eq!(d.len(), 1 + 1 + 16, "context (even with the same checksum context), header, 16 pages");
        assert!(d[0].cmd.contains(TxCmd::TSE) && d[0].special == 1460 && d[0].css == 54);
        assert_eq!(u32::from(d[0].length) | u32::from(d[0].cso) << 16, 65536, "PAYLEN");
        assert!(d[1..].iter().all(|x| x.cmd.contains(TxCmd::TSE)), "TSE on every data descriptor");
        assert!(d.last().unwrap().cmd.contains(TxCmd::EOP));
        assert_eq!(d[1..].iter().map(|x| u32::from(x.length)).sum::<u32>(), 54 + 65536);
    }
}
