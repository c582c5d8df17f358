//! Unit tests of the `.npy` codec: round trips of every dtype, files as
//! numpy writes them (hand-built bytes), and thousands of seeded mutations
//! that must give an error or a consistent tensor, never a panic.

use super::*;

/// A tiny seeded generator (splitmix64): deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A file as numpy lays it out: preamble, header dict, padding, '\n', data.
fn npy_bytes(version: (u8, u8), dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if version.0 == 1 { 2 } else { 4 };
    let mut header = dict.as_bytes().to_vec();
    while (MAGIC.len() + 2 + len_size + header.len() + 1) % ALIGN != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if len_size == 2 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

fn dict(descr: &str, fortran: bool, shape: &str) -> String {
    let f = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}")
}

fn samples() -> Vec<HostTensor> {
    vec![
        HostTensor::from_f64(
            DType::F64,
            &[2, 3],
            vec![0.0, -0.0, 1.5, f64::INFINITY, -1e300, 5e-324],
        ),
        HostTensor::from_f64(DType::F32, &[4], vec![1.0, f64::NEG_INFINITY, 3.25, 1e-40]),
        HostTensor::from_f64(DType::F32, &[], vec![7.5]),
        HostTensor::from_f64(DType::F16, &[3, 1], vec![65504.0, 6e-8, -2.5]),
        HostTensor::from_i64(DType::I64, &[3], vec![i64::MIN, 0, i64::MAX]),
        HostTensor::from_i64(
            DType::I32,
            &[1, 3],
            vec![i64::from(i32::MIN), -1, i64::from(i32::MAX)],
        ),
        HostTensor::from_i64(DType::I8, &[4], vec![-128, -1, 0, 127]),
        HostTensor::from_i64(DType::U8, &[2, 2], vec![0, 1, 200, 255]),
        HostTensor::from_bool(&[5], vec![true, false, false, true, true]),
        HostTensor::from_f64(DType::F32, &[2, 0, 3], vec![]),
    ]
}

#[test]
fn every_dtype_round_trips() {
    for t in samples() {
        let bytes = encode_npy(&t).expect("encode");
        assert_eq!(decode_npy(&bytes).as_ref(), Ok(&t), "{:?}", t.dtype);
    }
}

#[test]
fn nan_survives_the_round_trip() {
    for d in [DType::F64, DType::F32, DType::F16] {
        let t = HostTensor::from_f64(d, &[2], vec![f64::NAN, 1.0]);
        let back = decode_npy(&encode_npy(&t).expect("encode")).expect("decode");
        assert!(back.get_f64(0).is_nan() && back.get_f64(1) == 1.0, "{d}");
    }
}

#[test]
fn writes_exactly_what_numpy_writes() {
    // np.save of np.array([1, 2, 3], dtype='<f4'): a 118-byte ('v') header.
    let t = HostTensor::from_f64(DType::F32, &[3], vec![1.0, 2.0, 3.0]);
    let bytes = encode_npy(&t).expect("encode");
    let d = dict("<f4", false, "(3,)");
    let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(bytes, npy_bytes((1, 0), &d, &data));
    assert_eq!(&bytes[..10], b"\x93NUMPY\x01\x00v\x00");
    for t in samples() {
        let bytes = encode_npy(&t).expect("encode");
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!((10 + header_len) % 64, 0, "{:?}", t.shape);
        assert_eq!(bytes[9 + header_len], b'\n');
    }
}

#[test]
fn reads_big_endian_fortran_and_later_versions() {
    let be: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    let t = decode_npy(&npy_bytes((1, 0), &dict(">f4", false, "(2,)"), &be)).expect(">f4");
    assert_eq!(t, HostTensor::from_f64(DType::F32, &[2], vec![1.5, -2.0]));

    let be: Vec<u8> = [-5i64, 1 << 40].iter().flat_map(|x| x.to_be_bytes()).collect();
    let t = decode_npy(&npy_bytes((2, 0), &dict(">i8", false, "(2,)"), &be)).expect(">i8");
    assert_eq!(t, HostTensor::from_i64(DType::I64, &[2], vec![-5, 1 << 40]));

    let be = half::f16::from_f64(0.5).to_bits().to_be_bytes();
    let t = decode_npy(&npy_bytes((3, 0), &dict(">f2", false, "()"), &be)).expect(">f2");
    assert_eq!(t, HostTensor::from_f64(DType::F16, &[], vec![0.5]));

    // [[0, 1, 2], [3, 4, 5]] stored column-major: 0 3 1 4 2 5.
    let col: Vec<u8> = [0i32, 3, 1, 4, 2, 5].iter().flat_map(|x| x.to_le_bytes()).collect();
    let t = decode_npy(&npy_bytes((1, 0), &dict("<i4", true, "(2, 3)"), &col)).expect("F");
    assert_eq!(t, HostTensor::from_i64(DType::I32, &[2, 3], (0..6).collect()));

    // A 2x3x4 array a[i,j,k] = 100i + 10j + k, column-major (i fastest).
    let mut col = Vec::new();
    for k in 0..4u8 {
        for j in 0..3u8 {
            for i in 0..2u8 {
                col.push(100 * i + 10 * j + k);
            }
        }
    }
    let t = decode_npy(&npy_bytes((1, 0), &dict("|u1", true, "(2, 3, 4)"), &col)).expect("F3");
    let want: Vec<i64> = (0..24).map(|n| 100 * (n / 12) + 10 * (n / 4 % 3) + n % 4).collect();
    assert_eq!(t, HostTensor::from_i64(DType::U8, &[2, 3, 4], want));
}

#[test]
fn malformed_files_are_errors() {
    let good = npy_bytes((1, 0), &dict("<f4", false, "(2,)"), &[0; 8]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"PK\x03\x04 a zip".to_vec(), "bad magic"),
        (b"\x93NUM".to_vec(), "ends inside the magic"),
        (b"\x93NUMPY\x01".to_vec(), "inside the version"),
        (b"\x93NUMPY\x01\x00\x10".to_vec(), "inside the header length"),
        (good[..40].to_vec(), "inside the header"),
        (npy_bytes((4, 0), &dict("<f4", false, "(2,)"), &[0; 8]), "version 4.0"),
        (npy_bytes((1, 0), "[1, 2]", &[]), "expected a dict"),
        (npy_bytes((1, 0), &dict("<c8", false, "(2,)"), &[0; 16]), "unsupported dtype '<c8'"),
        (npy_bytes((1, 0), &dict("|f4", false, "(2,)"), &[0; 8]), "unsupported dtype '|f4'"),
        (
            npy_bytes((1, 0), &dict("<f4", false, "(3,)"), &[0; 8]),
            "needs 12 data bytes, the file has 8",
        ),
        (
            npy_bytes((1, 0), &dict("<f4", false, "(2,)"), &[0; 9]),
            "needs 8 data bytes, the file has 9",
        ),
        (npy_bytes((1, 0), &dict("<f8", false, "(4294967296, 4294967296)"), &[0; 8]), "too large"),
        (npy_bytes((1, 0), &dict("<f8", false, "(18446744073709551615,)"), &[0; 8]), "too large"),
        (
            npy_bytes((1, 0), &dict("<i8", false, "(1000000000000,)"), &[0; 8]),
            "needs 8000000000000",
        ),
        (
            npy_bytes((1, 0), &dict("|b1", false, "(2,)"), &[1, 7]),
            "bool element 1 is the byte 0x07",
        ),
        (npy_bytes((3, 0), "{'descr': '\u{e9}', 'fortran_order': False, 'shape': ()}", &[]), "'é'"),
    ];
    for (bytes, want) in cases {
        let err = decode_npy(&bytes).expect_err(want).to_string();
        assert!(err.contains(want), "want {want:?}, got {err:?}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn bf16_and_broken_tensors_are_not_written() {
    let t = HostTensor::from_f64(DType::BF16, &[1], vec![1.0]);
    assert_eq!(encode_npy(&t), Err(NpyError::NoNumpyDtype(DType::BF16)));
    let t = HostTensor { dtype: DType::F32, shape: vec![3], data: Data::Float(vec![1.0]) };
    assert!(encode_npy(&t).expect_err("len").to_string().contains("holds 1 elements"));
    let t = HostTensor { dtype: DType::I32, shape: vec![1], data: Data::Float(vec![1.0]) };
    assert!(encode_npy(&t).expect_err("family").to_string().contains("dtype family"));
}

#[test]
fn every_truncation_is_an_error() {
    for t in samples() {
        let bytes = encode_npy(&t).expect("encode");
        for n in 0..bytes.len() {
            assert!(decode_npy(&bytes[..n]).is_err(), "{:?} cut at {n}", t.shape);
        }
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let mut rng = Rng(0x5EED);
    let seeds: Vec<Vec<u8>> = samples().iter().map(|t| encode_npy(t).expect("encode")).collect();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            match rng.below(5) {
                // Bytes in the header matter most: aim there half the time.
                0 | 1 => {
                    let j = rng.below(b.len().min(128));
                    b[j] = rng.next() as u8;
                }
                2 => b[i] = b"0123456789(),' TF:<>|{}-L"[rng.below(25)],
                3 => b.truncate(i),
                _ => {
                    let extra = rng.below(9);
                    b.splice(i..i, std::iter::repeat_n(rng.next() as u8, extra));
                }
            }
            if b.is_empty() {
                break;
            }
        }
        match decode_npy(&b) {
            Ok(t) => {
                assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
                ok += 1;
            }
            Err(e) => {
                assert!(!e.to_string().contains('\n'));
                err += 1;
            }
        }
    }
    // Both outcomes occur, so the mutations reach past the first check.
    assert!(ok > 100 && err > 1000, "ok {ok}, err {err}");
}
