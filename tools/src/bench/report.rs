//! The benchmark's results: one [`Row`] per workload, printed as a table
//! (GB/s, ratios to the copy ceiling and fused/unfused) and as JSON.

use std::fmt::Write;
use std::time::Duration;

use serde_json::{Value, json};

/// One workload's measurements (medians).
#[derive(Clone, Debug)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// Its dtype's name.
    pub dtype: String,
    /// Bytes counted per run (BENCHMARKS.md).
    pub bytes: u64,
    /// A plain copy of the same bytes.
    pub copy: Duration,
    /// The fused run.
    pub fused: Duration,
    /// The unfused run (each op its own kernel).
    pub unfused: Duration,
    /// Compile time of the fused run.
    pub compile: Duration,
    /// Kernels compiled, fused and unfused, where the engine compiles.
    pub kernels: (Option<usize>, Option<usize>),
    /// Host↔buffer conversion excluded from the fused times, if any.
    pub conversion: Option<Duration>,
}

/// Bytes per second, in GB/s (10^9); zero for a zero time.
pub fn gbps(bytes: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { bytes as f64 / s / 1e9 } else { 0.0 }
}

/// `slow / fast` in time: the throughput of the `fast` run over the `slow` one's.
fn speedup(slow: Duration, fast: Duration) -> f64 {
    let f = fast.as_secs_f64();
    if f > 0.0 { slow.as_secs_f64() / f } else { 0.0 }
}

impl Row {
    /// Fused GB/s.
    pub fn fused_gbps(&self) -> f64 {
        gbps(self.bytes, self.fused)
    }
    /// Unfused GB/s.
    pub fn unfused_gbps(&self) -> f64 {
        gbps(self.bytes, self.unfused)
    }
    /// Copy GB/s.
    pub fn copy_gbps(&self) -> f64 {
        gbps(self.bytes, self.copy)
    }
    /// Fused throughput as a fraction of the copy's.
    pub fn fused_of_copy(&self) -> f64 {
        speedup(self.copy, self.fused)
    }
    /// Unfused throughput as a fraction of the copy's.
    pub fn unfused_of_copy(&self) -> f64 {
        speedup(self.copy, self.unfused)
    }
    /// How many times faster fused is than unfused.
    pub fn fused_over_unfused(&self) -> f64 {
        speedup(self.unfused, self.fused)
    }

    /// The row as a JSON object.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        json!({
            "workload": self.workload,
            "dtype": self.dtype,
            "bytes": self.bytes,
            "copy_ms": ms(self.copy),
            "copy_gbps": self.copy_gbps(),
            "fused_ms": ms(self.fused),
            "fused_gbps": self.fused_gbps(),
            "fused_of_copy": self.fused_of_copy(),
            "unfused_ms": ms(self.unfused),
            "unfused_gbps": self.unfused_gbps(),
            "unfused_of_copy": self.unfused_of_copy(),
            "fused_over_unfused": self.fused_over_unfused(),
            "compile_ms": ms(self.compile),
            "kernels_fused": self.kernels.0,
            "kernels_unfused": self.kernels.1,
            "conversion_ms": self.conversion.map(ms),
        })
    }
}

/// The whole run as JSON: the setup and the rows.
pub fn to_json(header: &Value, rows: &[Row]) -> Value {
    json!({ "setup": header, "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>() })
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "workload",
        "dtype",
        "MB",
        "copy GB/s",
        "fused GB/s",
        "of copy",
        "unfused GB/s",
        "of copy",
        "fused/unfused",
        "compile ms",
        "kernels",
    ];
    let opt = |k: Option<usize>| k.map_or("-".to_string(), |k| k.to_string());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.workload.clone(),
                r.dtype.clone(),
                format!("{:.1}", r.bytes as f64 / 1e6),
                format!("{:.2}", r.copy_gbps()),
                format!("{:.2}", r.fused_gbps()),
                format!("{:.0}%", 100.0 * r.fused_of_copy()),
                format!("{:.2}", r.unfused_gbps()),
                format!("{:.0}%", 100.0 * r.unfused_of_copy()),
                format!("{:.2}x", r.fused_over_unfused()),
                format!("{:.1}", r.compile.as_secs_f64() * 1e3),
                format!("{}/{}", opt(r.kernels.0), opt(r.kernels.1)),
            ]
        })
        .collect();
    aligned(&head, &cells)
}

/// `head` and `cells` as aligned text columns: the first two left-aligned
/// (names), the rest right-aligned (numbers); one line per row.
pub fn aligned(head: &[&str], cells: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .chain([head[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        // Writing into a String cannot fail.
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(head.to_vec());
    for r in cells {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            workload: "softmax".into(),
            dtype: "f32".into(),
            bytes: 2_000_000_000,
            copy: Duration::from_millis(100),
            fused: Duration::from_millis(200),
            unfused: Duration::from_millis(800),
            compile: Duration::from_micros(4500),
            kernels: (Some(1), Some(5)),
            conversion: None,
        }
    }

    #[test]
    fn ratios_are_throughput_ratios() {
        let r = row();
        assert_eq!(r.copy_gbps(), 20.0);
        assert_eq!(r.fused_gbps(), 10.0);
        assert_eq!(r.unfused_gbps(), 2.5);
        assert_eq!(r.fused_of_copy(), 0.5);
        assert_eq!(r.unfused_of_copy(), 0.125);
        assert_eq!(r.fused_over_unfused(), 4.0);
        assert_eq!(gbps(1, Duration::ZERO), 0.0);
    }

    #[test]
    fn the_table_has_a_header_and_one_line_per_row() {
        let t = table(&[row(), Row { workload: "adamw step".into(), ..row() }]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("workload"), "{t}");
        assert!(
            lines[1].contains("softmax") && lines[1].contains("10.00") && lines[1].contains("50%")
        );
        assert!(
            lines[1].contains("4.00x") && lines[1].contains("4.5") && lines[1].ends_with("1/5")
        );
        assert!(lines[2].starts_with("adamw step"), "{t}");
    }

    #[test]
    fn json_carries_every_measurement() {
        let v = to_json(&json!({"suite": "fusion"}), &[row()]);
        assert_eq!(v["setup"]["suite"], "fusion");
        let r = &v["rows"][0];
        assert_eq!(r["workload"], "softmax");
        assert_eq!(r["bytes"], 2_000_000_000u64);
        assert_eq!(r["fused_gbps"], 10.0);
        assert_eq!(r["fused_over_unfused"], 4.0);
        assert_eq!(r["kernels_unfused"], 5);
        assert_eq!(r["conversion_ms"], Value::Null);
    }
}
