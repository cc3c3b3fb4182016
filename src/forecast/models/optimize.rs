//! A small Nelder-Mead minimiser for a handful of bounded parameters.

/// Minimises `f` over the box `[lo, hi]^d` starting from `x0`; returns the best point found.
/// Points outside the box are clamped before evaluation.
pub fn nelder_mead(
    f: impl Fn(&[f64]) -> f64,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_evals: usize,
) -> Vec<f64> {
    let d = x0.len();
    let clamp = |x: &mut Vec<f64>| {
        for i in 0..d {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::MAX }
    };
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(d + 1);
    let mut start = x0.to_vec();
    clamp(&mut start);
    simplex.push((start.clone(), eval(&start)));
    for i in 0..d {
        let mut x = start.clone();
        let span = (hi[i] - lo[i]) * 0.25;
        x[i] = if x[i] + span <= hi[i] {
            x[i] + span
        } else {
            x[i] - span
        };
        clamp(&mut x);
        let v = eval(&x);
        simplex.push((x, v));
    }
    let mut evals = d + 1;
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[d].1);
        if (worst - best).abs() <= 1e-10 * best.abs().max(1e-12) {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|i| simplex[..d].iter().map(|(x, _)| x[i]).sum::<f64>() / d as f64)
            .collect();
        let point = |t: f64| {
            let mut x: Vec<f64> = (0..d)
                .map(|i| centroid[i] + t * (simplex[d].0[i] - centroid[i]))
                .collect();
            clamp(&mut x);
            x
        };
        let reflected = point(-1.0);
        let fr = eval(&reflected);
        evals += 1;
        if fr < simplex[0].1 {
            let expanded = point(-2.0);
            let fe = eval(&expanded);
            evals += 1;
            simplex[d] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (reflected, fr);
        } else {
            let contracted = point(0.5);
            let fc = eval(&contracted);
            evals += 1;
            if fc < simplex[d].1 {
                simplex[d] = (contracted, fc);
            } else {
                let best_x = simplex[0].0.clone();
                for (x, v) in simplex.iter_mut().skip(1) {
                    for i in 0..d {
                        x[i] = best_x[i] + 0.5 * (x[i] - best_x[i]);
                    }
                    *v = eval(x);
                    evals += 1;
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bowl() {
        let x = nelder_mead(
            |x| (x[0] - 0.3).powi(2) + (x[1] - 0.7).powi(2),
            &[0.5, 0.5],
            &[0.0, 0.0],
            &[1.0, 1.0],
            400,
        );
        assert!(
            (x[0] - 0.3).abs() < 1e-3 && (x[1] - 0.7).abs() < 1e-3,
            "{x:?}"
        );
    }
}
