"""Balance sheet: reserves, the reverse-repo buffer, the Treasury's cash and who holds Treasuries."""

from __future__ import annotations

from ..dashboards import Dashboard, Panel, Query, Row

DASHBOARD = Dashboard(
    uid="plumbline-balance-sheet",
    title="plumbline / Balance sheet",
    description="Reserves, the reverse-repo buffer, the Treasury's cash and who holds Treasuries.",
    time_from="now-90d",
    rows=(
        Row(
            title="Liquidity",
            panels=(
                Panel(
                    title="Reserves, ON RRP and the Treasury General Account",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="reserves_usd_bn"})',
                            legend="reserves (WRESBAL)",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="onrrp_usd_bn"})',
                            legend="ON RRP",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="tga_usd_bn"})',
                            legend="TGA (Wednesday)",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="tga_daily_usd_bn"})',
                            legend="TGA (daily statement)",
                        ),
                    ),
                    unit="currencyUSD",
                    description="Runbooks ReserveScarcityNear, ReverseRepoBufferDepleted, "
                    "TGARebuildDrainingReserves.",
                    width=24,
                    height=10,
                ),
                Panel(
                    title="Changes of reserves and of the TGA",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="reserves_weekly_change_usd_bn"})',
                            legend="reserves, 1 week",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="reserves_change_28d_usd_bn"})',
                            legend="reserves, 4 weeks",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="tga_change_28d_usd_bn"})',
                            legend="TGA, 4 weeks",
                        ),
                    ),
                    kind="bars",
                    unit="currencyUSD",
                    description="Runbooks ReservesFallingFast, TGARebuildDrainingReserves.",
                    width=24,
                ),
            ),
        ),
        Row(
            title="Holdings",
            panels=(
                Panel(
                    title="Fed: Treasury holdings and total assets",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="fed_treasuries_usd_bn"})',
                            legend="Fed Treasuries (TREAST)",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="fed_total_assets_usd_bn"})',
                            legend="Fed total assets (WALCL)",
                        ),
                    ),
                    unit="currencyUSD",
                    description="Run-off (falling) versus bill purchases (rising).",
                ),
                Panel(
                    title="Banks: Treasury holdings against reserves",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_dollars{signal="bank_treasuries_usd_bn"})',
                            legend="bank Treasuries and agencies (USGSEC)",
                        ),
                        Query(
                            expr='max(plumbline_signal_dollars{signal="reserves_usd_bn"})',
                            legend="reserves",
                        ),
                    ),
                    unit="currencyUSD",
                    description="Banks swapping cash for bonds, system-wide.",
                ),
                Panel(
                    title="Bank Treasuries per dollar of reserves",
                    queries=(
                        Query(
                            expr='max(plumbline_signal_ratio{signal="bank_treasuries_to_reserves_ratio"})',
                            legend="USGSEC / WRESBAL",
                        ),
                    ),
                    width=24,
                ),
            ),
        ),
    ),
)
