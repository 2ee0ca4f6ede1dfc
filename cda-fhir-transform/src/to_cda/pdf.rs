//! A small PDF renderer for the L1 documents (ePrescription now, Patient Summary later): a
//! title and titled blocks of label/value rows, laid out on A4 pages with word wrapping.
//!
//! Uses the standard Helvetica fonts with WinAnsiEncoding (no embedded font files), so Swedish
//! letters (å, ä, ö, é) render; characters outside WinAnsi are replaced by `?`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::narrative::Block;
use super::xml::Xml;

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LABEL_W: f32 = 190.0;
const GAP: f32 = 10.0;
const BODY: f32 = 9.5;
const LEADING: f32 = 12.5;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Helvetica advance widths (1/1000 em) for ASCII 32..=126, from the standard AFM.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// A character in WinAnsiEncoding (Windows-1252), `?` when it has none.
fn win_ansi(c: char) -> u8 {
    let u = c as u32;
    match u {
        0x20..=0x7E | 0xA0..=0xFF => u as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            '\t' | '\n' | '\r' => b' ',
            _ => b'?',
        },
    }
}

fn encode(s: &str) -> Vec<u8> {
    s.chars().map(win_ansi).collect()
}

fn byte_width(b: u8) -> u16 {
    match b {
        0x20..=0x7E => HELVETICA[usize::from(b - 0x20)],
        0xC0..=0xDE => 722,
        _ => 556,
    }
}

/// Width of encoded text in points.
fn width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    let w: u32 = bytes.iter().map(|b| u32::from(byte_width(*b))).sum();
    let w = w as f32 * size / 1000.0;
    if bold {
        w * 1.06
    } else {
        w
    }
}

/// Splits text into lines no wider than `max` points (breaking over-long words too).
fn wrap(text: &str, size: f32, bold: bool, max: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split_whitespace() {
        let mut w = encode(word);
        loop {
            let candidate = if line.is_empty() {
                w.clone()
            } else {
                let mut c = line.clone();
                c.push(b' ');
                c.extend_from_slice(&w);
                c
            };
            if width(&candidate, size, bold) <= max {
                line = candidate;
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A single word wider than the column: cut it.
            let mut cut = w.len();
            while cut > 1 && width(&w[..cut], size, bold) > max {
                cut -= 1;
            }
            lines.push(w[..cut].to_vec());
            w = w[cut..].to_vec();
            if w.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

struct Pages {
    pages: Vec<Content>,
    current: Content,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Pages {
            pages: Vec::new(),
            current: Content::new(),
            y: PAGE_H - MARGIN,
        }
    }

    fn ensure(&mut self, height: f32) {
        if self.y - height < MARGIN {
            let done = std::mem::replace(&mut self.current, Content::new());
            self.pages.push(done);
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, y: f32, font: Name<'_>, size: f32, bytes: &[u8]) {
        self.current
            .begin_text()
            .set_font(font, size)
            .next_line(x, y)
            .show(Str(bytes))
            .end_text();
    }

    fn finish(mut self) -> Vec<Content> {
        self.pages.push(self.current);
        self.pages
    }
}

/// Renders a document: `title` then each block as a heading band and a two-column table;
/// every page ends with `footer` and its page number.
pub(crate) fn render(title: &str, blocks: &[Block], footer: &str) -> Vec<u8> {
    let mut p = Pages::new();
    let usable = PAGE_W - 2.0 * MARGIN;
    for line in wrap(title, 15.0, true, usable) {
        p.ensure(20.0);
        p.y -= 18.0;
        let y = p.y;
        p.text(MARGIN, y, BOLD, 15.0, &line);
    }
    p.y -= 10.0;
    for b in blocks {
        p.ensure(LEADING * 3.0);
        p.y -= LEADING + 6.0;
        let band_y = p.y - 4.0;
        p.current
            .set_fill_gray(0.88)
            .rect(MARGIN - 4.0, band_y, usable + 8.0, LEADING + 3.0)
            .fill_nonzero()
            .set_fill_gray(0.0);
        let y = p.y;
        p.text(MARGIN, y, BOLD, 11.0, &encode(b.heading));
        p.y -= 4.0;
        for r in &b.rows {
            let label = wrap(r.label, BODY, true, LABEL_W);
            let value = wrap(&r.value, BODY, false, usable - LABEL_W - GAP);
            let n = label.len().max(value.len());
            for i in 0..n {
                p.ensure(LEADING);
                p.y -= LEADING;
                let y = p.y;
                if let Some(l) = label.get(i) {
                    p.text(MARGIN, y, BOLD, BODY, l);
                }
                if let Some(v) = value.get(i) {
                    p.text(MARGIN + LABEL_W + GAP, y, REGULAR, BODY, v);
                }
            }
            p.y -= 2.0;
        }
    }
    let mut pages = p.finish();
    let total = pages.len();
    let footer_lines = wrap(footer, 7.5, false, PAGE_W - 2.0 * MARGIN - 90.0);
    for (i, page) in pages.iter_mut().enumerate() {
        let number = encode(&format!(
            "Sida {} av {total} / Page {} of {total}",
            i + 1,
            i + 1
        ));
        page.set_stroke_gray(0.6)
            .set_line_width(0.5)
            .move_to(MARGIN, MARGIN - 12.0)
            .line_to(PAGE_W - MARGIN, MARGIN - 12.0)
            .stroke();
        let size = 7.5;
        for (j, line) in footer_lines.iter().take(2).enumerate() {
            page.begin_text()
                .set_font(REGULAR, size)
                .next_line(MARGIN, MARGIN - 24.0 - 9.0 * j as f32)
                .show(Str(line))
                .end_text();
        }
        let x = PAGE_W - MARGIN - width(&number, size, false);
        page.begin_text()
            .set_font(REGULAR, size)
            .next_line(x, MARGIN - 24.0)
            .show(Str(&number))
            .end_text();
    }

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let page_ids: Vec<(Ref, Ref)> = (0..pages.len())
        .map(|i| {
            let base = 6 + 2 * i32::try_from(i).unwrap_or(i32::MAX / 4);
            (Ref::new(base), Ref::new(base + 1))
        })
        .collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(page, _)| *page))
        .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr("Swedish NCP bridge"));
    for ((page_id, content_id), content) in page_ids.iter().zip(pages) {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_id);
        let mut res = page.resources();
        res.fonts().pair(REGULAR, regular).pair(BOLD, bold);
        res.finish();
        page.finish();
        pdf.stream(*content_id, &content.finish());
    }
    pdf.finish()
}

/// The L1 body: `<component><nonXMLBody><text mediaType="application/pdf"
/// representation="B64">` with `pdf` base64-encoded.
pub(crate) fn write_body(x: &mut Xml, pdf: &[u8]) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pdf);
    x.start("component", &[]);
    x.start(
        "nonXMLBody",
        &[("classCode", "DOCBODY"), ("moodCode", "EVN")],
    );
    x.start(
        "text",
        &[("mediaType", "application/pdf"), ("representation", "B64")],
    );
    x.raw(&b64);
    x.end();
    x.end();
    x.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_cda::narrative::Row;

    #[test]
    fn swedish_letters_are_win_ansi() {
        assert_eq!(
            encode("åäöÅÄÖé–"),
            vec![0xE5, 0xE4, 0xF6, 0xC5, 0xC4, 0xD6, 0xE9, 0x96]
        );
        assert_eq!(encode("漢"), vec![b'?']);
    }

    #[test]
    fn wraps_to_the_column() {
        let lines = wrap(&"ord ".repeat(100), 10.0, false, 100.0);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| width(l, 10.0, false) <= 100.0));
        let long = wrap(&"x".repeat(200), 10.0, false, 50.0);
        assert!(long
            .iter()
            .all(|l| !l.is_empty() && width(l, 10.0, false) <= 50.0));
    }

    #[test]
    fn renders_a_pdf_with_several_pages_when_long() {
        let rows: Vec<Row> = (0..200)
            .map(|i| Row {
                label: "Läkemedel / Medicine",
                value: format!("rad {i} med åäö"),
                id: None,
            })
            .collect();
        let pdf = render(
            "Test",
            &[Block {
                heading: "Block",
                rows,
            }],
            "Dokument-id / Document id: x",
        );
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains("/Count 4") || text.contains("/Count 5"),
            "page count"
        );
        assert!(text.contains("WinAnsiEncoding"));
    }
}
