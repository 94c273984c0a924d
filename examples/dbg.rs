use pk::dosing::Dose;
use pk::model::{ModalKinetics, PkParams};
use pk::simulate::Schedule;
fn main() {
    let p = PkParams::two_cmt_iv(20.0, 50.0, 30.0, 130.0).unwrap();
    let times: Vec<f64> = (0..100).map(|i| 24.0 * i as f64 / 99.0).collect();
    let single = Schedule::new(&[Dose::infusion(0.0, 1, 100.0, 2.0)], &times);
    let mut out = vec![0.0; 100];
    let mut k = ModalKinetics::new(&p).unwrap();
    single.concentrations(&mut k, &p.structure, 1000.0, &mut out).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100000 { let mut k = ModalKinetics::new(&p).unwrap(); single.concentrations(&mut k, &p.structure, 1000.0, &mut out).unwrap(); }
    println!("{:?} per profile", t.elapsed() / 100000);
    let t = std::time::Instant::now();
    for _ in 0..100000 { std::hint::black_box(ModalKinetics::new(std::hint::black_box(&p)).unwrap()); }
    println!("{:?} per new", t.elapsed() / 100000);
}
