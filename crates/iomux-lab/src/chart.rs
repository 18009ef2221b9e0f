//! Small SVG charts for the lab's results, and their PNG renderings (with resvg).
use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

/// A named line of (x, y) points.
pub struct Series {
    /// The line's name, in the legend.
    pub name: String,
    /// Its (x, y) points, drawn in this order.
    pub points: Vec<(f64, f64)>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Axis {
    min: f64,
    max: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> Axis {
        let values: Vec<f64> = values
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let mut min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let mut max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !min.is_finite() {
            (min, max) = (1.0, 10.0);
        }
        if from_zero && !log {
            min = min.min(0.0);
        }
        if log {
            min = 10f64.powf(min.log10().floor());
            max = 10f64.powf(max.log10().ceil());
        } else {
            max *= 1.08;
        }
        if max <= min {
            max = min + 1.0;
        }
        Axis { min, max, log }
    }

    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (a, b) = (
                self.min.log10().round() as i32,
                self.max.log10().round() as i32,
            );
            (a..=b).map(|e| 10f64.powi(e)).collect()
        } else {
            let step = nice_step((self.max - self.min) / 5.0);
            let first = (self.min / step).ceil() as i64;
            let last = (self.max / step).floor() as i64;
            (first..=last).map(|i| i as f64 * step).collect()
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    magnitude
        * if residual < 1.5 {
            1.0
        } else if residual < 3.5 {
            2.0
        } else if residual < 7.5 {
            5.0
        } else {
            10.0
        }
}

fn label(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn frame(svg: &mut String, title: &str, x_label: &str, y_label: &str) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>
"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        escape(title),
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 14.0,
        escape(x_label),
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(y_label)
    );
}

fn y_grid(svg: &mut String, y: &Axis) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for tick in y.ticks() {
        let py = TOP + plot_h * (1.0 - y.fraction(tick));
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            label(tick)
        );
    }
}

fn legend(svg: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + i as f64 * 18.0;
        let x = WIDTH - RIGHT + 14.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{:.1}">{}</text>"#,
            y - 10.0,
            COLORS[i % COLORS.len()],
            x + 18.0,
            y,
            escape(name)
        );
    }
}

/// A line chart; either axis may be logarithmic.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    log_x: bool,
    log_y: bool,
) -> String {
    let x = Axis::new(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        log_x,
        false,
    );
    let y = Axis::new(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        log_y,
        true,
    );
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    frame(&mut svg, title, x_label, y_label);
    y_grid(&mut svg, &y);
    for tick in x.ticks() {
        let px = LEFT + plot_w * x.fraction(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            label(tick)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|(px, py)| px.is_finite() && py.is_finite() && (!log_y || *py > 0.0))
            .map(|&(px, py)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + plot_w * x.fraction(px),
                    TOP + plot_h * (1.0 - y.fraction(py))
                )
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for p in &points {
            let (cx, cy) = p.split_once(',').expect("formatted above");
            let _ = writeln!(svg, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
        }
    }
    legend(
        &mut svg,
        &series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
    );
    svg.push_str("</svg>\n");
    svg
}

/// Grouped bars: one group per label, one bar per series (`values[series][group]`).
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    names: &[String],
    values: &[Vec<f64>],
) -> String {
    let y = Axis::new(values.iter().flatten().copied(), false, true);
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let mut svg = String::new();
    frame(&mut svg, title, "", y_label);
    y_grid(&mut svg, &y);
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / names.len().max(1) as f64;
    for (g, group) in groups.iter().enumerate() {
        let gx = LEFT + g as f64 * group_w;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="10">{}</text>"#,
            gx + group_w / 2.0,
            TOP + plot_h + 16.0,
            escape(group)
        );
        for (s, series) in values.iter().enumerate() {
            let v = series.get(g).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let h = plot_h * y.fraction(v).max(0.0);
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"/>"#,
                gx + group_w * 0.1 + s as f64 * bar_w,
                TOP + plot_h - h,
                bar_w * 0.92,
                COLORS[s % COLORS.len()]
            );
        }
    }
    legend(
        &mut svg,
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    svg.push_str("</svg>\n");
    svg
}

/// Renders an SVG chart to PNG at twice its size, with the system's fonts for the text.
pub fn to_png(svg: &str) -> Result<Vec<u8>, String> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2)
        .ok_or("chart has no area")?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(2.0, 2.0),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}
