//! The BERT composites (softmax, log_softmax, layer_norm, gelu both forms,
//! silu, linear, embedding) against closed forms computed in f64, at sizes
//! 1, 3, 50 and 783 on strided inputs.

mod tensor_common;

use smelt_compiler::ir::DType;
use smelt_runtime::functional::{
    Approximate, embedding, gelu, layer_norm, linear, log_softmax, normalize, silu, softmax,
};
use smelt_runtime::tensor::Tensor;
use tensor_common::{SIZES, assert_close, data, permuted, sliced};

fn rows(v: &[f64], n: usize) -> Vec<&[f64]> {
    v.chunks(n).collect()
}

#[test]
fn softmax_and_log_softmax_match_closed_forms() {
    for n in SIZES {
        let x = permuted(3, n, 40 + n as u64).mul(3.0).unwrap();
        let v = x.to_f64_vec();
        let s = softmax(&x, -1).unwrap().to_f64_vec();
        let l = log_softmax(&x, 1).unwrap().to_f64_vec();
        for (r, row) in rows(&v, n).into_iter().enumerate() {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|a| (a - m).exp()).sum();
            let want: Vec<f64> = row.iter().map(|a| (a - m).exp() / z).collect();
            let lwant: Vec<f64> = row.iter().map(|a| a - m - z.ln()).collect();
            assert_close("softmax", &s[r * n..(r + 1) * n], &want, 1e-5, 1e-7);
            assert_close("log_softmax", &l[r * n..(r + 1) * n], &lwant, 1e-5, 1e-6);
        }
        // Along dim 0 too.
        let s0 = softmax(&x, 0).unwrap();
        let col: f64 = s0.sum(&[0], false).unwrap().to_f64_vec()[0];
        assert!((col - 1.0).abs() < 1e-6);
    }
    assert!(softmax(&Tensor::zeros(&[3], DType::I64).unwrap(), 0).is_err());
}

#[test]
fn layer_norm_matches_the_closed_form() {
    for n in SIZES {
        let x = sliced(4, n, 50 + n as u64);
        let w = Tensor::from_vec(data(n, 3), &[n]).unwrap();
        let b = Tensor::from_vec(data(n, 4), &[n]).unwrap();
        let got = layer_norm(&x, &[n], Some(&w), Some(&b), 1e-5).unwrap().to_f64_vec();
        let (wv, bv) = (w.to_f64_vec(), b.to_f64_vec());
        for (r, row) in rows(&x.to_f64_vec(), n).into_iter().enumerate() {
            let m = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64;
            let want: Vec<f64> = row
                .iter()
                .enumerate()
                .map(|(i, a)| (a - m) / (var + 1e-5).sqrt() * wv[i] + bv[i])
                .collect();
            assert_close("layer_norm", &got[r * n..(r + 1) * n], &want, 1e-4, 1e-5);
        }
    }
    let x = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    let e = layer_norm(&x, &[4], None, None, 1e-5).unwrap_err().to_string();
    assert!(e.contains("layer_norm") && e.contains("[2, 3]") && e.contains("[4]"), "{e}");
}

fn erf(x: f64) -> f64 {
    // The Maclaurin series: |x| stays below 5 here, where f64 sums it to ~1e-12.
    let mut sum = 0.0f64;
    let mut term = x;
    let mut k = 0.0;
    while term.abs() > 1e-17 * sum.abs().max(1e-300) && k < 200.0 {
        sum += term / (2.0 * k + 1.0);
        k += 1.0;
        term *= -x * x / k;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

#[test]
fn gelu_both_forms_and_silu_match_closed_forms() {
    for n in SIZES {
        let x = permuted(2, n, 60 + n as u64).mul(2.0).unwrap();
        let v = x.to_f64_vec();
        let exact: Vec<f64> = v.iter().map(|&a| 0.5 * a * (1.0 + erf(a / 2f64.sqrt()))).collect();
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let tanh: Vec<f64> =
            v.iter().map(|&a| 0.5 * a * (1.0 + (c * (a + 0.044715 * a * a * a)).tanh())).collect();
        let silu_want: Vec<f64> = v.iter().map(|&a| a / (1.0 + (-a).exp())).collect();
        assert_close(
            "gelu",
            &gelu(&x, Approximate::None).unwrap().to_f64_vec(),
            &exact,
            1e-5,
            1e-6,
        );
        assert_close(
            "gelu tanh",
            &gelu(&x, Approximate::Tanh).unwrap().to_f64_vec(),
            &tanh,
            1e-5,
            1e-6,
        );
        assert_close("silu", &silu(&x).unwrap().to_f64_vec(), &silu_want, 1e-5, 1e-6);
    }
}

#[test]
fn linear_and_embedding_match_closed_forms() {
    for n in SIZES {
        let x = permuted(3, n, 70); // [3, n]
        let w = Tensor::from_vec(data(5 * n, 71), &[5, n]).unwrap();
        let b = Tensor::from_vec(data(5, 72), &[5]).unwrap();
        let y = linear(&x, &w, Some(&b)).unwrap();
        assert_eq!(y.shape(), &[3, 5]);
        let (xv, wv, bv) = (x.to_f64_vec(), w.to_f64_vec(), b.to_f64_vec());
        let mut want = vec![0.0; 15];
        for i in 0..3 {
            for o in 0..5 {
                want[i * 5 + o] =
                    bv[o] + (0..n).map(|k| xv[i * n + k] * wv[o * n + k]).sum::<f64>();
            }
        }
        assert_close("linear", &y.to_f64_vec(), &want, 1e-4, 1e-4);
        let table = Tensor::from_vec(data(n * 4, 73), &[n, 4]).unwrap();
        let ids: Vec<i64> = (0..6).map(|i| (i * 7 % n) as i64).collect();
        let idt = Tensor::from_vec(ids.clone(), &[2, 3]).unwrap();
        let e = embedding(&idt, &table).unwrap();
        assert_eq!(e.shape(), &[2, 3, 4]);
        let tv = table.to_f64_vec();
        let want: Vec<f64> =
            ids.iter().flat_map(|&i| tv[i as usize * 4..i as usize * 4 + 4].to_vec()).collect();
        assert_eq!(e.to_f64_vec(), want);
        let oob = Tensor::from_vec(vec![n as i64], &[1]).unwrap();
        assert!(embedding(&oob, &table).is_err());
    }
    let x = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    let w = Tensor::zeros(&[4, 5], DType::F32).unwrap();
    let e = linear(&x, &w, None).unwrap_err().to_string();
    assert!(e.contains("linear") && e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
}

#[test]
fn index_ops_match_closed_forms() {
    let x = Tensor::from_vec(data(12, 80), &[3, 4]).unwrap();
    let v = x.to_f64_vec();
    let idx = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    let s = x.index_select(1, &idx).unwrap();
    assert_eq!(s.to_f64_vec(), vec![v[2], v[0], v[6], v[4], v[10], v[8]]);
    let g = Tensor::from_vec(vec![3i64, 0, 1, 1, 2, 2], &[3, 2]).unwrap();
    let got = x.gather(1, &g).unwrap();
    assert_eq!(got.to_f64_vec(), vec![v[3], v[0], v[5], v[5], v[10], v[10]]);
    let bad = Tensor::from_vec(vec![4i64, 0, 1, 1, 2, 2], &[3, 2]).unwrap();
    assert!(x.gather(1, &bad).is_err());
    let c = Tensor::cat(&[&x, &x.narrow(0, 0, 1).unwrap()], 0).unwrap();
    assert_eq!(c.shape(), &[4, 4]);
    assert_eq!(c.to_f64_vec()[12..], v[..4]);
}

#[test]
fn normalize_clamp_and_t_match_closed_forms() {
    for n in SIZES {
        let x = permuted(3, n, 90);
        let y = normalize(&x, -1, 1e-12).unwrap().to_f64_vec();
        for (r, row) in rows(&x.to_f64_vec(), n).into_iter().enumerate() {
            let norm = row.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
            let want: Vec<f64> = row.iter().map(|a| a / norm).collect();
            assert_close("normalize", &y[r * n..(r + 1) * n], &want, 1e-5, 1e-7);
        }
        let c = x.clamp(Some(-0.5), Some(0.25)).unwrap().to_f64_vec();
        let want: Vec<f64> = x.to_f64_vec().iter().map(|a| a.clamp(-0.5, 0.25)).collect();
        assert_eq!(c, want);
        assert_eq!(x.t().unwrap().shape(), &[n, 3]);
    }
    let z = Tensor::zeros(&[2, 3], DType::F32).unwrap();
    assert_eq!(normalize(&z, 1, 1e-12).unwrap().to_f64_vec(), vec![0.0; 6]);
    assert!(Tensor::zeros(&[1, 1, 1], DType::F32).unwrap().t().is_err());
}
