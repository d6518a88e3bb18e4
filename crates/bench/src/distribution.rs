//! How keys and sizes are drawn: uniform or zipf key ranks, fixed or uniform sizes.
//! Each is parsed from the flag syntax (`zipf:0.99`, `uniform:10:100`).

use crate::error::BenchError;
use crate::rng::Rng;

/// Which key a request touches, as an index in `0..keys`.
#[derive(Debug, Clone)]
pub enum KeyDist {
    Uniform { keys: u64 },
    Zipf(Zipf),
}

/// The flag form of a key distribution, before the key count is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistSpec {
    Uniform,
    Zipf(f64),
}

impl KeyDistSpec {
    pub fn parse(s: &str) -> Result<Self, BenchError> {
        let bad = || {
            BenchError::Flag(format!(
                "bad key distribution {s:?}: want uniform or zipf:S"
            ))
        };
        if s == "uniform" {
            return Ok(KeyDistSpec::Uniform);
        }
        let skew = s.strip_prefix("zipf:").ok_or_else(bad)?;
        let skew: f64 = skew.parse().map_err(|_| bad())?;
        if !(skew > 0.0 && skew.is_finite()) {
            return Err(bad());
        }
        Ok(KeyDistSpec::Zipf(skew))
    }

    pub fn build(self, keys: u64) -> KeyDist {
        match self {
            KeyDistSpec::Uniform => KeyDist::Uniform { keys },
            KeyDistSpec::Zipf(skew) => KeyDist::Zipf(Zipf::new(keys, skew)),
        }
    }
}

impl std::fmt::Display for KeyDistSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDistSpec::Uniform => write!(f, "uniform"),
            KeyDistSpec::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

impl KeyDist {
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyDist::Uniform { keys } => rng.below(*keys),
            KeyDist::Zipf(z) => z.sample(rng) - 1,
        }
    }
}

/// Zipf over ranks `1..=n` with exponent `s`, sampled by rejection-inversion
/// (Hörmann and Derflinger, 1996): constant time and memory for any `n`, which a
/// table-based sampler over millions of keys would not be.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Self {
        let mut z = Zipf {
            n: n as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.unit() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// x^-s, the unnormalised probability of rank x.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// An antiderivative of `h`, written so that s = 1 needs no special case.
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * x).exp()
    }
}

/// (e^x - 1) / x, accurate near 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// ln(1 + x) / x, accurate near 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// A size in bytes: fixed, or uniform over an inclusive range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeDist {
    Fixed(usize),
    Uniform { min: usize, max: usize },
}

impl SizeDist {
    pub fn parse(s: &str) -> Result<Self, BenchError> {
        let bad = || BenchError::Flag(format!("bad size {s:?}: want N or uniform:MIN:MAX"));
        if let Some(range) = s.strip_prefix("uniform:") {
            let (min, max) = range.split_once(':').ok_or_else(bad)?;
            let min: usize = min.parse().map_err(|_| bad())?;
            let max: usize = max.parse().map_err(|_| bad())?;
            if min > max {
                return Err(bad());
            }
            return Ok(SizeDist::Uniform { min, max });
        }
        let fixed: usize = s.parse().map_err(|_| bad())?;
        Ok(SizeDist::Fixed(fixed))
    }

    pub fn min(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, .. } => min,
        }
    }

    pub fn max(&self) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { max, .. } => max,
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => min + rng.below((max - min + 1) as u64) as usize,
        }
    }

    /// A size chosen by a hash instead of a generator, so the same id always maps to the
    /// same size (key lengths must be stable across requests).
    pub fn pick(&self, hash: u64) -> usize {
        match *self {
            SizeDist::Fixed(n) => n,
            SizeDist::Uniform { min, max } => min + (hash % (max - min + 1) as u64) as usize,
        }
    }
}

impl std::fmt::Display for SizeDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeDist::Fixed(n) => write!(f, "{n}"),
            SizeDist::Uniform { min, max } => write!(f, "uniform:{min}:{max}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(dist: &KeyDist, n: usize, draws: usize) -> Vec<u64> {
        let mut rng = Rng::new(42);
        let mut counts = vec![0u64; n];
        for _ in 0..draws {
            let k = dist.sample(&mut rng) as usize;
            counts[k] += 1;
        }
        counts
    }

    fn zipf_probability(n: u64, s: f64, rank: u64) -> f64 {
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        (rank as f64).powf(-s) / norm
    }

    #[test]
    fn zipf_matches_exact_probabilities() {
        for &s in &[0.5, 0.99, 1.0, 1.5] {
            let n = 1000;
            let draws = 400_000;
            let counts = histogram(&KeyDist::Zipf(Zipf::new(n, s)), n as usize, draws);
            for rank in [1u64, 2, 10, 100] {
                let expected = zipf_probability(n, s, rank) * draws as f64;
                let got = counts[rank as usize - 1] as f64;
                let tolerance = 5.0 * expected.sqrt() + 0.02 * expected;
                assert!(
                    (got - expected).abs() < tolerance,
                    "s={s} rank={rank}: got {got}, expected {expected:.0}"
                );
            }
        }
    }

    #[test]
    fn zipf_stays_in_range() {
        let z = KeyDist::Zipf(Zipf::new(3, 0.99));
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            assert!(z.sample(&mut rng) < 3);
        }
    }

    #[test]
    fn higher_skew_concentrates_more() {
        let n = 10_000;
        let hot = |s: f64| {
            let counts = histogram(&KeyDist::Zipf(Zipf::new(n, s)), n as usize, 100_000);
            counts[..10].iter().sum::<u64>()
        };
        let (mild, strong) = (hot(0.5), hot(1.2));
        assert!(strong > 3 * mild, "mild {mild} strong {strong}");
    }

    #[test]
    fn uniform_key_dist_is_flat() {
        let counts = histogram(&KeyDist::Uniform { keys: 20 }, 20, 100_000);
        for c in counts {
            assert!((4000..6000).contains(&c));
        }
    }

    #[test]
    fn parses_specs() {
        assert_eq!(KeyDistSpec::parse("uniform").unwrap(), KeyDistSpec::Uniform);
        assert_eq!(
            KeyDistSpec::parse("zipf:0.99").unwrap(),
            KeyDistSpec::Zipf(0.99)
        );
        assert!(KeyDistSpec::parse("zipf:-1").is_err());
        assert!(KeyDistSpec::parse("zipf").is_err());
        assert_eq!(SizeDist::parse("100").unwrap(), SizeDist::Fixed(100));
        assert_eq!(
            SizeDist::parse("uniform:10:20").unwrap(),
            SizeDist::Uniform { min: 10, max: 20 }
        );
        assert!(SizeDist::parse("uniform:20:10").is_err());
        assert!(SizeDist::parse("big").is_err());
    }

    #[test]
    fn uniform_sizes_cover_their_range() {
        let d = SizeDist::Uniform { min: 3, max: 5 };
        let mut rng = Rng::new(3);
        let mut seen = [false; 6];
        for _ in 0..1000 {
            let v = d.sample(&mut rng);
            assert!((3..=5).contains(&v));
            seen[v] = true;
        }
        assert!(seen[3] && seen[4] && seen[5]);
        assert_eq!(d.pick(7), 3 + 7 % 3);
    }
}
