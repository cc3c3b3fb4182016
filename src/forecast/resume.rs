//! A model choice in a form a policy's status can carry (`status.metrics[].choice`), so
//! that a new leader — after a restart, an upgrade or a failover — takes each engine up
//! where the last leader left it: one fit of the chosen model instead of a backtest.
//!
//! The text is `1.` followed by unpadded URL-safe base64 of little-endian fields. It is
//! bound to the engine's settings by a fingerprint: a choice made under other settings
//! (the policy's forecast, its quantile, its lead time, a release with other defaults) does
//! not decode, and the engine then backtests as it would without one. Bands are kept in
//! single precision, which is finer than anything they are compared with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::calibrate::Calibration;
use super::config::EngineConfig;
use super::models::ModelKind;
use super::selection::Selection;

const VERSION: &str = "1.";

/// The settings' fingerprint (FNV-1a 64 of their debug form: stable within a release,
/// and a change of release only costs one backtest per metric).
fn fingerprint(config: &EngineConfig) -> u64 {
    crate::fnv1a64(format!("{config:?}").bytes())
}

fn model_index(kind: ModelKind) -> u8 {
    ModelKind::ALL.iter().position(|m| *m == kind).unwrap_or(0) as u8
}

/// `selection`, made under `config`, as status text.
pub fn encode(selection: &Selection, config: &EngineConfig) -> String {
    let mut out = Vec::with_capacity(2_048);
    out.extend(fingerprint(config).to_le_bytes());
    out.push(model_index(selection.model));
    out.extend((selection.half_life.unwrap_or(f64::NAN)).to_le_bytes());
    out.push(selection.periods.len().min(255) as u8);
    for p in selection.periods.iter().take(255) {
        out.extend(p.to_le_bytes());
    }
    out.extend((selection.factor as u64).to_le_bytes());
    out.extend(selection.evaluated_at.to_le_bytes());
    out.extend(selection.mase.to_le_bytes());
    out.extend(selection.held_out_losses.0.to_le_bytes());
    out.extend(selection.held_out_losses.1.to_le_bytes());
    out.push(selection.scores.len().min(255) as u8);
    for (kind, loss) in selection.scores.iter().take(255) {
        out.push(model_index(*kind));
        out.extend(loss.to_le_bytes());
    }
    let band = |out: &mut Vec<u8>, values: &[f64]| {
        out.extend((values.len().min(u16::MAX as usize) as u16).to_le_bytes());
        for v in values.iter().take(u16::MAX as usize) {
            out.extend((*v as f32).to_le_bytes());
        }
    };
    band(&mut out, &selection.last_value_band);
    out.extend((selection.calibration.samples as u64).to_le_bytes());
    out.push(selection.calibration.levels.len().min(255) as u8);
    for (level, values) in selection.calibration.levels.iter().take(255) {
        out.extend(level.to_le_bytes());
        band(&mut out, values);
    }
    format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out))
}

/// The choice `text` holds, when it was made under the same settings as `config` and is
/// whole; `None` otherwise (the engine then chooses by backtest).
pub fn decode(text: &str, config: &EngineConfig) -> Option<Selection> {
    let bytes = URL_SAFE_NO_PAD.decode(text.strip_prefix(VERSION)?).ok()?;
    let mut r = Reader(&bytes);
    if r.u64()? != fingerprint(config) {
        return None;
    }
    let model = *ModelKind::ALL.get(r.u8()? as usize)?;
    let half_life = Some(r.f64()?).filter(|h| h.is_finite());
    let periods = (0..r.u8()?).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
    let factor = usize::try_from(r.u64()?).ok().filter(|f| *f >= 1)?;
    let evaluated_at = r.u64()? as i64;
    let mase = r.f64()?;
    let held_out_losses = (r.f64()?, r.f64()?);
    let scores = (0..r.u8()?)
        .map(|_| Some((*ModelKind::ALL.get(r.u8()? as usize)?, r.f64()?)))
        .collect::<Option<Vec<_>>>()?;
    let last_value_band = r.band()?;
    let samples = usize::try_from(r.u64()?).ok()?;
    let levels = (0..r.u8()?)
        .map(|_| Some((r.f64()?, r.band()?)))
        .collect::<Option<Vec<_>>>()?;
    let whole = r.0.is_empty()
        && !levels.is_empty()
        && levels.windows(2).all(|w| w[0].0 < w[1].0)
        && levels.iter().all(|(_, v)| v.len() == last_value_band.len())
        && [mase, held_out_losses.0, held_out_losses.1]
            .iter()
            .all(|x| x.is_finite());
    whole.then_some(Selection {
        model,
        half_life,
        periods,
        factor,
        calibration: Calibration { levels, samples },
        last_value_band,
        held_out_losses,
        evaluated_at,
        mase,
        scores,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
    fn band(&mut self) -> Option<Vec<f64>> {
        let n = u16::from_le_bytes(self.take()?);
        (0..n)
            .map(|_| {
                let v = f64::from(f32::from_le_bytes(self.take()?));
                v.is_finite().then_some(v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::calibrate::LEVEL_GRID;

    fn selection() -> Selection {
        Selection {
            model: ModelKind::HoltWinters,
            half_life: Some(30.0),
            periods: vec![86_400],
            factor: 2,
            calibration: Calibration {
                levels: LEVEL_GRID
                    .iter()
                    .map(|l| (*l, (0..18).map(|h| (l - 0.5) * (1.0 + h as f64)).collect()))
                    .collect(),
                samples: 300,
            },
            last_value_band: (0..18).map(|h| 0.25 * h as f64).collect(),
            held_out_losses: (0.4, 0.7),
            evaluated_at: 1_800_000_000,
            mase: 0.61,
            scores: vec![(ModelKind::HoltWinters, 0.2), (ModelKind::Ets, 0.3)],
        }
    }

    #[test]
    fn a_choice_comes_back_from_its_text() {
        let config = EngineConfig::default();
        let text = encode(&selection(), &config);
        assert!(text.starts_with("1."), "{text}");
        assert!(text.len() < 3_000, "{} bytes", text.len());
        let back = decode(&text, &config).expect("decodes");
        let want = selection();
        assert_eq!(back.model, want.model);
        assert_eq!(back.half_life, want.half_life);
        assert_eq!(back.periods, want.periods);
        assert_eq!(back.factor, want.factor);
        assert_eq!(back.evaluated_at, want.evaluated_at);
        assert_eq!(back.scores, want.scores);
        assert_eq!(back.held_out_losses, want.held_out_losses);
        for ((l, v), (wl, wv)) in back.calibration.levels.iter().zip(&want.calibration.levels) {
            assert_eq!(l, wl);
            assert!(v.iter().zip(wv).all(|(a, b)| (a - b).abs() < 1e-5));
        }
        // The bands a resumed engine reads are the ones the last leader used.
        let (a, b) = (
            back.calibration.error_quantile(0.9, 5).unwrap(),
            want.calibration.error_quantile(0.9, 5).unwrap(),
        );
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }

    #[test]
    fn a_choice_under_other_settings_or_damaged_is_not_used() {
        let config = EngineConfig::default();
        let text = encode(&selection(), &config);
        let other = EngineConfig {
            quantile: 0.95,
            ..config.clone()
        };
        assert!(decode(&text, &other).is_none());
        assert!(decode(&text[..text.len() - 8], &config).is_none());
        assert!(decode(&text.replacen("1.", "2.", 1), &config).is_none());
        assert!(decode("1.!!!", &config).is_none());
        assert!(decode("", &config).is_none());
    }
}
