"""Funding overview: overnight rates against the rate on reserves and the target range."""

from __future__ import annotations

from ..dashboards import ON_RESERVES, Dashboard, FillBetween, LineStyle, Panel, Query, Row

NO_AWARD_RATE = (
    "needs RRPONTSYAWARD (the ON RRP award rate), which is absent from the local data copy "
    "(PROVENANCE.md); live it comes from the NY Fed"
)

DASHBOARD = Dashboard(
    uid="plumbline-funding-overview",
    title="plumbline / Funding overview",
    description="Overnight rates against the rate on reserves and the target range; spreads, tails, "
    "facilities.",
    rows=(
        Row(
            title="Rates",
            panels=(
                Panel(
                    title="SOFR, the rate on reserves and the target range",
                    queries=(
                        Query(expr='max(plumbline_series_ratio{series="SOFR"})', legend="SOFR"),
                        Query(expr='max(plumbline_series_ratio{series=~"IORB|IOER"})', legend=ON_RESERVES),
                        Query(
                            expr='max(plumbline_series_ratio{series="DFEDTARL"})',
                            legend="target range low",
                        ),
                        Query(
                            expr='max(plumbline_series_ratio{series="DFEDTARU"})',
                            legend="target range high",
                        ),
                        Query(expr='max(plumbline_series_ratio{series="EFFR"})', legend="EFFR"),
                    ),
                    unit="percentunit",
                    description="SOFR above the rate on reserves for days is the scarcity regime "
                    "(runbook SOFRAboveIORB). The shaded band is the FOMC target range.",
                    overrides=(
                        FillBetween(lower="target range low", upper="target range high"),
                        LineStyle(series=ON_RESERVES, dash=True, color="red"),
                    ),
                    width=24,
                    height=10,
                ),
                Panel(
                    title="SOFR percentiles",
                    queries=(
                        Query(expr='max(plumbline_series_ratio{series="SOFR1"})', legend="1st"),
                        Query(expr='max(plumbline_series_ratio{series="SOFR25"})', legend="25th"),
                        Query(
                            expr='max(plumbline_series_ratio{series="SOFR"})',
                            legend="median (SOFR)",
                        ),
                        Query(expr='max(plumbline_series_ratio{series="SOFR75"})', legend="75th"),
                        Query(expr='max(plumbline_series_ratio{series="SOFR99"})', legend="99th"),
                    ),
                    unit="percentunit",
                    description="The tail (99th) moves before the median when some borrowers run short "
                    "(runbook SOFRTailStress).",
                ),
                Panel(
                    title="SOFR position in the target range",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_ratio{signal="sofr_range_position_ratio"})',
                            legend="0 = floor, 1 = ceiling",
                        ),
                    ),
                    unit="percentunit",
                ),
            ),
        ),
        Row(
            title="Spreads",
            panels=(
                Panel(
                    title="Overnight rates minus the rate on reserves",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="sofr_iorb_spread_bp"})',
                            legend="SOFR - IORB",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="sofr99_iorb_spread_bp"})',
                            legend="SOFR p99 - IORB",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="effr_iorb_spread_bp"})',
                            legend="EFFR - IORB",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="tgcr_iorb_spread_bp"})',
                            legend="TGCR - IORB",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="bgcr_iorb_spread_bp"})',
                            legend="BGCR - IORB",
                        ),
                    ),
                    unit="suffix: bp",
                    description="Above zero: cash earns more lent in repo than held as reserves "
                    "(runbooks SOFRAboveIORB, RepoOffTheFloor).",
                    width=16,
                ),
                Panel(
                    title="TGCR minus the ON RRP award rate",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="tgcr_onrrp_spread_bp"})',
                            legend="TGCR - ON RRP",
                            no_data_reason=NO_AWARD_RATE,
                        ),
                    ),
                    unit="suffix: bp",
                    width=8,
                ),
            ),
        ),
        Row(
            title="Facilities and volumes",
            panels=(
                Panel(
                    title="Standing repo facility and repo operations",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="srf_usage_usd_bn"})',
                            legend="accepted",
                        ),
                    ),
                    kind="bars",
                    unit="currencyUSD",
                    description="Runbook StandingRepoFacilityUsed.",
                    width=8,
                ),
                Panel(
                    title="ON RRP take-up",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="onrrp_usd_bn"})',
                            legend="ON RRP",
                        ),
                    ),
                    unit="currencyUSD",
                    description="The buffer: near zero, drains come out of reserves (runbook "
                    "ReverseRepoBufferDepleted).",
                    width=8,
                ),
                Panel(
                    title="SOFR volume",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="sofr_volume_usd_bn"})',
                            legend="SOFR volume",
                        ),
                    ),
                    unit="currencyUSD",
                    width=8,
                ),
            ),
        ),
        Row(
            title="Bonds and the yen",
            panels=(
                Panel(
                    title="10-year yield against the policy rate",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="dgs10_target_top_spread_bp"})',
                            legend="10y - top of range",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="dgs10_change_20d_bp"})',
                            legend="10y change, 4 weeks",
                        ),
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="policy_change_90d_bp"})',
                            legend="top of range change, 90 days",
                        ),
                    ),
                    unit="suffix: bp",
                    description="10y up while the policy change is negative: bonds sell off while "
                    "the Fed cuts (runbook BondsSellOffWhilePolicyEases).",
                ),
                Panel(
                    title="USD/JPY change over four weeks",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_ratio{signal="usdjpy_change_20d_pct"})',
                            legend="USD/JPY change, 4 weeks",
                        ),
                    ),
                    unit="percentunit",
                    description="A fast fall of USD/JPY is a yen-carry unwind (runbook YenCarryUnwind).",
                    width=8,
                ),
                Panel(
                    title="US - Japan policy spread",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_basis_points{signal="us_jp_policy_spread_bp"})',
                            legend="US - Japan policy rate",
                        ),
                    ),
                    unit="suffix: bp",
                    width=8,
                ),
                Panel(
                    title="USD/JPY",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_yen_per_dollar{signal="usdjpy_jpy_per_usd"})',
                            legend="USD/JPY",
                        ),
                    ),
                    unit="suffix: ¥/$",
                    width=8,
                ),
            ),
        ),
        Row(
            title="Alerts",
            panels=(
                Panel(
                    title="Funding alerts firing",
                    queries=(
                        Query(
                            expr="count by (alertname, severity) "
                            '(ALERTS{alertstate="firing", team="funding"}) or on() vector(0)',
                            legend="{{alertname}} {{severity}}",
                        ),
                    ),
                    kind="stat",
                    width=24,
                    height=5,
                ),
            ),
        ),
    ),
)
