//! Two accumulators merged through their raw states (what a host's all-reduce does) equal
//! `merge`, bit for bit.
mod common;

use common::{expect_error, load};
use surgeon::{Context, Hessian, RawState, Status};

#[test]
fn sum_of_raw_states_equals_merge() {
    let f = load();
    let ctx = Context::default();
    let half = f.tokens / 2;
    let mut a = Hessian::new(&ctx, f.cols).unwrap();
    let mut b = Hessian::new(&ctx, f.cols).unwrap();
    a.add_f32(&f.x[..half * f.cols]).unwrap();
    b.add_f32(&f.x[half * f.cols..]).unwrap();

    let (ra, rb) = (a.export_raw().unwrap(), b.export_raw().unwrap());
    assert_eq!(ra.sum_xx.len(), f.cols * (f.cols + 1) / 2);
    assert_eq!(ra.column_sums.len(), 3 * f.cols);
    assert_eq!(ra.samples, half as u64);
    // H_00 = 2/n · S_00.
    assert_eq!(a.matrix().unwrap()[0], ra.sum_xx[0] * (2.0 / half as f64) as f32);

    let sum = RawState {
        sum_xx: ra.sum_xx.iter().zip(&rb.sum_xx).map(|(x, y)| x + y).collect(),
        column_sums: ra.column_sums.iter().zip(&rb.column_sums).map(|(x, y)| x + y).collect(),
        samples: ra.samples + rb.samples,
    };
    let rebuilt = Hessian::from_raw(&ctx, f.cols, &sum).unwrap();
    a.merge(&b).unwrap();
    let (got, want) = (rebuilt.export_raw().unwrap(), a.export_raw().unwrap());
    assert_eq!(got.samples, f.tokens as u64);
    assert_eq!(got, want);
    assert_eq!(rebuilt.matrix().unwrap(), a.matrix().unwrap());

    let mut negative = sum.clone();
    negative.sum_xx[0] = -1.0;
    expect_error(Hessian::from_raw(&ctx, f.cols, &negative), Status::Numeric, "surgeon_hessian_import_raw");
    let mut short = sum.clone();
    short.sum_xx.truncate(1);
    expect_error(Hessian::from_raw(&ctx, f.cols, &short), Status::Shape, "surgeon_hessian_import_raw");
}
