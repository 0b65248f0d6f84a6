//! Mapping against references: brute-force optimum for one-to-one, a plain scan for nearest.

use mapping::{assign, cost, Method, Point};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_points(rng: &mut ChaCha8Rng, n: usize) -> Vec<Point> {
    (0..n)
        .map(|_| Point {
            memory_mb: 10f64.powf(rng.random_range(0.0..3.5)),
            duration_ms: 10f64.powf(rng.random_range(-1.0..5.0)),
        })
        .collect()
}

/// Minimum total cost over every injective map from functions to proxies.
fn brute_force(functions: &[Point], proxies: &[Point]) -> f64 {
    fn go(f: usize, functions: &[Point], proxies: &[Point], used: &mut Vec<bool>) -> f64 {
        if f == functions.len() {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for p in 0..proxies.len() {
            if !used[p] {
                used[p] = true;
                best =
                    best.min(cost(functions[f], proxies[p]) + go(f + 1, functions, proxies, used));
                used[p] = false;
            }
        }
        best
    }
    go(0, functions, proxies, &mut vec![false; proxies.len()])
}

#[test]
fn unique_is_injective_and_optimal() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for trial in 0..200 {
        let n = rng.random_range(1..=6);
        let m = rng.random_range(n..=7);
        let functions = random_points(&mut rng, n);
        let proxies = random_points(&mut rng, m);
        let a = assign(&functions, &proxies, true).unwrap();
        assert_eq!(a.method, Method::Unique);
        let mut used = a.proxy_of.clone();
        used.sort_unstable();
        used.dedup();
        assert_eq!(used.len(), n, "trial {trial}: injective");
        let optimum = brute_force(&functions, &proxies);
        // Costs are scaled to integers (1e-6) for Kuhn–Munkres: equal up to that rounding.
        assert!(
            (a.total_cost() - optimum).abs() <= 1e-6 * n as f64,
            "trial {trial}: {} vs optimum {optimum}",
            a.total_cost()
        );
    }
}

#[test]
fn nearest_matches_a_plain_scan() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..50 {
        let functions = random_points(&mut rng, 300);
        let proxies = random_points(&mut rng, 40);
        let a = assign(&functions, &proxies, false).unwrap();
        assert_eq!(a.method, Method::Nearest);
        for (f, &chosen) in functions.iter().zip(&a.proxy_of) {
            let mut best = 0;
            for p in 1..proxies.len() {
                if cost(*f, proxies[p]) < cost(*f, proxies[best]) {
                    best = p;
                }
            }
            assert_eq!(chosen, best);
        }
    }
}

#[test]
fn unique_falls_back_to_nearest_with_too_few_proxies() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let functions = random_points(&mut rng, 10);
    let proxies = random_points(&mut rng, 4);
    let a = assign(&functions, &proxies, true).unwrap();
    assert_eq!(a.method, Method::NearestTooFewProxies);
    assert_eq!(
        a.proxy_of,
        assign(&functions, &proxies, false).unwrap().proxy_of
    );
    assert!(assign(&functions, &[], false).is_err());
    assert!(assign(&[], &proxies, true).unwrap().proxy_of.is_empty());
}

#[test]
fn real_profile_json_parses() {
    let Some(dir) = trace::testing::vswarm_sample() else {
        return;
    };
    let c = profiles::Catalogue::from_profile_json(&dir.join("profile.json")).unwrap();
    assert_eq!(c.proxies.len(), 191);
    let aes = c.get("aes-go-10-10").unwrap();
    assert_eq!(
        aes.yaml.as_deref(),
        Some("./yamls/aes-go/kn-aes-go-10-10.yaml")
    );
    assert_eq!(aes.at(profiles::Metric::Memory, 0).unwrap(), 17.0);
}
