//! `pk popfit --plots DIR --report FILE`: every goodness-of-fit figure as SVG
//! and PNG, one self-contained HTML report, checked in headless Chromium.
//!
//! The browser test needs Debian's `chromium` (`/usr/bin/chromium`, or on
//! the PATH). Without it the test prints why it is skipped and passes,
//! unless `PK_REQUIRE_BROWSER=1` (as `.ci/run` sets), where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pk")).args(args).output().unwrap()
}

/// The figures of a fit of a two-η-or-more model with subject covariates, before the individual pages.
const FIGURES: [&str; 10] = [
    "dv_vs_pred",
    "dv_vs_pred_log",
    "dv_vs_ipred",
    "dv_vs_ipred_log",
    "cwres_vs_time",
    "cwres_vs_tad",
    "cwres_vs_pred",
    "abs_iwres_vs_ipred",
    "eta_histograms",
    "eta_qq",
];

/// Fits Infusion_2CPT (120 subjects, 6960 observations) with `--plots` and `--report`.
fn infusion_report(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf, Output) {
    let plots = dir.join("plots");
    let report = dir.join("run.html");
    let mut args = vec![
        "popfit",
        "fixtures/nlmixr2/Infusion_2CPT.csv",
        "--model",
        "models/two_cmt_pop.pk",
        "--drop",
        "SS,II",
        "--plots",
        plots.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = pk(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (plots, report, out)
}

fn assert_png(bytes: &[u8], what: &str) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{what}: not a PNG");
    assert!(bytes.len() > 20_000, "{what}: {} bytes", bytes.len());
    let img = image::load_from_memory(bytes)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .to_rgb8();
    let coloured = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(coloured > 10_000, "{what}: {coloured} non-white pixels");
    img.dimensions()
}

/// The `data:image/png;base64,` payloads of the page, decoded.
fn inline_pngs(page: &str) -> Vec<Vec<u8>> {
    page.split("src=\"data:image/png;base64,")
        .skip(1)
        .map(|rest| decode_base64(&rest[..rest.find('"').unwrap()]))
        .collect()
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, &c)| n | (u32::from(value(c)) << (18 - 6 * k)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn infusion_2cpt_plots_are_svg_and_png_and_the_report_holds_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let (plots, report, out) = infusion_report(dir.path(), &["--no-covariance"]);
    let mut names: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // 120 subjects: 10 pages of 12; covariates DOSE, V, CL, Q, V2 (constant within subjects).
    let stems: Vec<String> = FIGURES
        .iter()
        .map(|s| s.to_string())
        .chain(["CL", "DOSE", "Q", "V", "V2"].iter().map(|c| format!("eta_vs_{c}")))
        .chain((1..=10).map(|p| format!("individuals_{p}")))
        .collect();
    assert_eq!(names.len(), 2 * stems.len(), "{names:?}");
    for stem in &stems {
        let svg = std::fs::read_to_string(plots.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}.svg"
        );
        let png = std::fs::read(plots.join(format!("{stem}.png"))).unwrap();
        assert_png(&png, stem);
    }
    // 6960 observations drawn semi-transparent (a density, not a blot).
    let svg = std::fs::read_to_string(plots.join("dv_vs_pred.svg")).unwrap();
    assert!(svg.matches("<circle").count() >= 6960);
    let circle = &svg[svg.find("<circle").unwrap()..];
    let opacity: f64 = circle[circle.find("opacity=\"").unwrap() + 9..]
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        opacity > 0.05 && opacity < 0.3,
        "points are not semi-transparent: opacity {opacity}"
    );
    // Log axes: ticks at 1, 2, 5 × 10^k.
    let log = std::fs::read_to_string(plots.join("dv_vs_pred_log.svg")).unwrap();
    let texts: Vec<&str> = log
        .split("<text")
        .skip(1)
        .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
        .collect();
    for tick in ["20", "50", "100", "200", "500", "1000", "2000"] {
        assert!(texts.contains(&tick), "no log tick {tick} in {texts:?}");
    }

    let page = std::fs::read_to_string(&report).unwrap();
    for section in ["model", "data", "estimation", "estimates", "gof"] {
        assert!(page.contains(&format!("<section id=\"{section}\">")), "{section}");
    }
    // The model's text, the data summary, the method, OFV, convergence, estimates, shrinkage.
    assert!(page.contains("kernel two_cmt_iv(CL, V1, Q, V2)"));
    assert!(page.contains("<th>subjects</th><td>120</td>"));
    assert!(page.contains("<th>observations</th><td>6960</td>"));
    assert!(page.contains("<th>dose records</th><td>"));
    assert!(page.contains("<td>FOCE-I</td>"));
    assert!(page.contains("OFV (−2LL without N·ln 2π)"));
    assert!(page.contains("class=\"ok\">converged</span>"));
    assert!(page.contains("<td>TVCL</td>"));
    assert!(page.contains("not requested (--no-covariance)"));
    assert!(page.contains("<h3>Shrinkage"));
    // Every figure inline as a PNG that decodes, nothing fetched from elsewhere.
    // The goodness-of-fit figures, then the VPC and pcVPC (--report-vpc, 200 replicates).
    let pngs = inline_pngs(&page);
    assert_eq!(pngs.len(), stems.len() + 2);
    for (k, png) in pngs.iter().enumerate() {
        assert_png(png, &format!("inline image {k}"));
    }
    for external in ["http://", "https://", "src=\"/", "href=\"http", "url("] {
        assert!(!page.contains(external), "external resource: {external}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("report written to"), "{stderr}");
}

#[test]
fn infusion_2cpt_report_has_standard_errors_from_the_covariance_step() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let (_, report, _) = infusion_report(dir.path(), &[]);
    eprintln!(
        "popfit with covariance step, plots and report: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.contains("standard errors from the sandwich"));
    // Each estimate row has an SE and an RSE (numbers, not "-").
    let tvcl = &page[page.find("<td>TVCL</td>").unwrap()..];
    let row = &tvcl[..tvcl.find("</tr>").unwrap()];
    let cells: Vec<&str> = row.split("<td>").skip(1).map(|c| c.trim_end_matches("</td>")).collect();
    assert_eq!(cells.len(), 5, "{row}");
    assert!(cells[2].parse::<f64>().unwrap() > 0.0, "{row}");
    assert!(cells[3].parse::<f64>().unwrap() > 0.0, "{row}");
}

#[test]
fn a_control_stream_gets_a_report_with_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("pheno.html");
    let out = pk(&[
        "popfit",
        "fixtures/pheno/pheno_real.mod",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.contains("$PROBLEM"), "the control stream's text");
    assert!(page.contains("<th>subjects</th><td>59</td>"));
    assert!(page.contains("<th>observations</th><td>155</td>"));
    // pheno: 59 subjects, 5 pages of individual fits; η against WGT and APGR.
    let pngs = inline_pngs(&page);
    for stem in FIGURES.iter().chain(&["eta_vs_WGT", "individuals_5"]) {
        assert!(page.contains(&format!("id=\"fig-{stem}\"")), "{stem}");
    }
    assert_eq!(pngs.len(), page.matches("<figure ").count());
    for (k, png) in pngs.iter().enumerate() {
        assert_png(png, &format!("inline image {k}"));
    }
}

#[test]
fn report_into_a_missing_directory_fails_before_fitting() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("no/such/dir/run.html");
    let out = pk(&[
        "popfit",
        "fixtures/pheno/pheno.csv",
        "--model",
        "models/pheno.pk",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("iteration 1:"), "it fitted first: {stderr}");
    assert!(!report.exists());
}

/// Chromium: `/usr/bin/chromium`, else `chromium` on the PATH.
fn chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.exists() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromium"))
            .find(|p| p.exists())
    })
}

/// Runs headless Chromium on `page` with `extra` arguments and a fresh profile.
fn run_chromium(browser: &Path, profile: &Path, extra: &[String], page: &Path) -> Output {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend_from_slice(extra);
    args.push(format!("file://{}", page.display()));
    let out = Command::new(browser).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The report with a script that records errors (script errors, resources
/// that fail to load, console.error) from the start, and after the load
/// event writes the number of images, of broken images and the errors into the DOM.
fn instrumented(page: &str) -> String {
    let head = "<script>window.__pkErrors=[];\
        window.addEventListener('error',function(e){window.__pkErrors.push(String(e.message||('failed to load '+(e.target&&e.target.tagName))))},true);\
        var __pkConsoleError=console.error;console.error=function(){window.__pkErrors.push(Array.prototype.join.call(arguments,' '));__pkConsoleError.apply(console,arguments)};</script>";
    // The marker is built at run time so that the script's own text never matches it.
    let tail = "<script>window.addEventListener('load',function(){var imgs=document.images,broken=0;\
        for(var i=0;i<imgs.length;i++){if(!imgs[i].complete||imgs[i].naturalWidth===0)broken++}\
        var p=document.createElement('pre');p.textContent=['PK','CHECK'].join('')+' images='+imgs.length+' broken='+broken+' errors='+JSON.stringify(window.__pkErrors)+' END';\
        document.body.appendChild(p)});</script>";
    page.replacen("<head>", &format!("<head>{head}"), 1)
        .replacen("</body>", &format!("{tail}</body>"), 1)
}

/// (images, broken images, errors) from the dumped DOM.
fn parse_check(dom: &str) -> (usize, usize, String) {
    let line = dom.split("PKCHECK images=").nth(1).unwrap_or_else(|| {
        panic!(
            "no check line in the dumped DOM: {}",
            &dom[dom.len().saturating_sub(2000)..]
        )
    });
    let line = &line[..line.find(" END").unwrap()];
    let (images, rest) = line.split_once(" broken=").unwrap();
    let (broken, errors) = rest.split_once(" errors=").unwrap();
    (images.parse().unwrap(), broken.parse().unwrap(), errors.to_string())
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var("PK_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("PK_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)");
        }
        eprintln!("SKIPPED the_report_renders_in_headless_chromium: chromium not found (/usr/bin/chromium or PATH); set PK_REQUIRE_BROWSER=1 to make this a failure");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_, report, _) = infusion_report(dir.path(), &["--no-covariance"]);
    let page = std::fs::read_to_string(&report).unwrap();
    let figures = page.matches("<figure ").count();
    // 25 goodness-of-fit figures, the VPC and the pcVPC.
    assert_eq!(figures, 27);
    for stem in ["vpc", "pcvpc"] {
        assert!(page.contains(&format!("id=\"fig-{stem}\"")), "{stem}");
    }

    // Every image loads, no script or console error.
    let checked = dir.path().join("checked.html");
    std::fs::write(&checked, instrumented(&page)).unwrap();
    let out = run_chromium(
        &browser,
        &dir.path().join("profile-dom"),
        &["--virtual-time-budget=10000".into(), "--dump-dom".into()],
        &checked,
    );
    let (images, broken, errors) = parse_check(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(images, figures, "images in the page");
    assert_eq!(broken, 0, "images that did not load");
    assert_eq!(errors, "[]", "errors in the page");

    // A screenshot of the page as a reader sees it: a PNG, not blank.
    let shot = dir.path().join("shot.png");
    run_chromium(
        &browser,
        &dir.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000".into(),
        ],
        &report,
    );
    let bytes = std::fs::read(&shot).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1280, 4000));
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let fraction = non_white as f64 / (1280.0 * 4000.0);
    assert!(
        fraction > 0.2,
        "the screenshot is nearly blank: {fraction:.3} non-white"
    );
    // The header's dark blue band and the plots' blue points are there.
    let header = img.get_pixel(640, 10).0;
    assert!(header[2] > header[0] + 30, "no header band: {header:?}");
    let blue_points = img
        .pixels()
        .filter(|p| p.0[2] > 150 && p.0[0] < 150 && p.0[1] > 90)
        .count();
    assert!(blue_points > 1_000, "no plotted points: {blue_points}");
}
