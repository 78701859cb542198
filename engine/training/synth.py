"""Seeded synthetic CTR traffic with a known ground-truth click probability.

The world: N_USERS users and N_ADS ads with Zipf-like popularity, a device
and placement mix, a daily traffic cycle, and a click log-odds that adds
  user latent + ad latent + device + placement + device×placement
  + ad kind × device + hour-of-day cycle (+ a lunch bump).
The device×placement and ad-kind×device interactions are what a linear model
over one-hot features cannot express, so trees have something to win.

PROFILE holds every distribution parameter a request sampler needs; it is
written to traffic_profile.json and read by bench/lib/traffic_sampler.ts, so the
server's load and drift tests draw from the same traffic the models learnt.
"""
import math

import numpy as np

N_USERS = 10_000
N_ADS = 500

DEVICES = ["mobile", "desktop", "tablet"]
PLACEMENTS = ["header", "sidebar", "footer", "in_feed", "interstitial"]

# Requests per hour of day (local time): quiet nights, a lunch step, an evening peak.
_HOUR_WEIGHTS = [1.6, 1.1, 0.8, 0.6, 0.6, 0.8, 1.4, 2.6, 3.6, 4.0, 4.1, 4.3,
                 4.9, 4.7, 4.2, 4.1, 4.3, 4.8, 5.5, 6.2, 6.6, 6.1, 4.6, 2.8]

PROFILE = {
    "description": "Distribution of the synthetic CTR traffic the demo models were trained on "
                   "(engine/training/synth.py). Ids are prefix + popularity rank, rank 1 the most "
                   "frequent; P(rank k) ∝ k^-exponent.",
    "users": {"prefix": "user_", "count": N_USERS, "first_id": 1, "exponent": 0.9},
    "ads": {"prefix": "ad_", "count": N_ADS, "first_id": 1, "exponent": 1.05},
    "device": {"mobile": 0.62, "desktop": 0.30, "tablet": 0.08},
    "placement": {"header": 0.20, "sidebar": 0.18, "footer": 0.14, "in_feed": 0.38, "interstitial": 0.10},
    "hour": [round(w / sum(_HOUR_WEIGHTS), 6) for w in _HOUR_WEIGHTS],
}
# Rounded probabilities must still sum to 1 for the sampler's CDFs.
PROFILE["hour"][-1] = round(1.0 - sum(PROFILE["hour"][:-1]), 6)

# Ground-truth effects on the click log-odds.
DEVICE_EFFECT = {"mobile": 0.0, "desktop": -0.15, "tablet": 0.10}
PLACEMENT_EFFECT = {"header": 0.25, "sidebar": -0.45, "footer": -0.80, "in_feed": 0.35, "interstitial": 0.70}
DEVICE_X_PLACEMENT = {
    ("mobile", "interstitial"): 0.55,   # full-screen on a phone gets tapped (often by accident)
    ("desktop", "interstitial"): -1.00,  # and closed on a desktop
    ("mobile", "sidebar"): -0.70,        # a phone barely shows a sidebar
    ("mobile", "in_feed"): 0.30,
    ("desktop", "header"): 0.35,
    ("tablet", "footer"): 0.45,
}
AD_KINDS = ["app_install", "web", "brand"]
AD_KIND_X_DEVICE = {
    ("app_install", "mobile"): 0.50, ("app_install", "tablet"): 0.25, ("app_install", "desktop"): -0.90,
    ("brand", "desktop"): 0.20,
}
USER_SD = 0.45
AD_SD = 0.55
HOUR_AMPLITUDE = 0.22
HOUR_PEAK = 21.0
LUNCH_BUMP = 0.15  # hours 12-13: a step the cyclic sin/cos features only approximate
INTERCEPT = -4.07  # tuned so the click rate lands near 2.5 %


def zipf_probs(count, exponent):
    w = np.arange(1, count + 1, dtype=np.float64) ** -exponent
    return w / w.sum()


class World:
    """Latent per-user and per-ad effects, drawn once from the seed."""

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.user_effect = rng.normal(0.0, USER_SD, N_USERS)
        self.ad_effect = rng.normal(0.0, AD_SD, N_ADS)
        self.ad_kind = rng.choice(len(AD_KINDS), N_ADS, p=[0.3, 0.5, 0.2])
        # lookup tables indexed by integer codes, for vectorised truth
        self.dev_eff = np.array([DEVICE_EFFECT[d] for d in DEVICES])
        self.plc_eff = np.array([PLACEMENT_EFFECT[p] for p in PLACEMENTS])
        self.dxp = np.array([[DEVICE_X_PLACEMENT.get((d, p), 0.0) for p in PLACEMENTS] for d in DEVICES])
        self.kxd = np.array([[AD_KIND_X_DEVICE.get((k, d), 0.0) for d in DEVICES] for k in AD_KINDS])

    def logit(self, user, ad, dev, plc, hour):
        """Ground-truth log-odds; user/ad are 0-based ranks, dev/plc codes."""
        h = np.asarray(hour, dtype=np.float64)
        z = (INTERCEPT + self.user_effect[user] + self.ad_effect[ad]
             + self.dev_eff[dev] + self.plc_eff[plc] + self.dxp[dev, plc]
             + self.kxd[self.ad_kind[ad], dev]
             + HOUR_AMPLITUDE * np.cos(2 * np.pi * (h - HOUR_PEAK) / 24)
             + LUNCH_BUMP * ((h >= 12) & (h <= 13)))
        return z


def sample_impressions(world, n, seed):
    """n impressions drawn from PROFILE, with true probabilities and clicks."""
    rng = np.random.default_rng(seed)
    p = PROFILE
    user = rng.choice(N_USERS, n, p=zipf_probs(N_USERS, p["users"]["exponent"]))
    ad = rng.choice(N_ADS, n, p=zipf_probs(N_ADS, p["ads"]["exponent"]))
    dev = rng.choice(len(DEVICES), n, p=[p["device"][d] for d in DEVICES])
    plc = rng.choice(len(PLACEMENTS), n, p=[p["placement"][q] for q in PLACEMENTS])
    hour = rng.choice(24, n, p=np.array(p["hour"]) / sum(p["hour"]))
    prob = 1.0 / (1.0 + np.exp(-world.logit(user, ad, dev, plc, hour)))
    click = (rng.random(n) < prob).astype(np.int8)
    return {"user": user, "ad": ad, "dev": dev, "plc": plc, "hour": hour, "prob": prob, "click": click}


def request_columns(imp):
    """Impressions → the request fields the encoder reads, as arrays."""
    return {
        "user_id": np.char.add(PROFILE["users"]["prefix"], (imp["user"] + 1).astype(str)),
        "ad_id": np.char.add(PROFILE["ads"]["prefix"], (imp["ad"] + 1).astype(str)),
        "device": np.array(DEVICES)[imp["dev"]],
        "placement": np.array(PLACEMENTS)[imp["plc"]],
        "hour": imp["hour"],
    }


def request_at(imp, i):
    """Row i as the JSON request a client would send."""
    return {
        "user_id": "%s%d" % (PROFILE["users"]["prefix"], imp["user"][i] + 1),
        "ad_id": "%s%d" % (PROFILE["ads"]["prefix"], imp["ad"][i] + 1),
        "device": DEVICES[imp["dev"][i]],
        "placement": PLACEMENTS[imp["plc"][i]],
        "context": {"hour": int(imp["hour"][i])},
    }


def logistic(z):
    return 1.0 / (1.0 + math.exp(-z))
