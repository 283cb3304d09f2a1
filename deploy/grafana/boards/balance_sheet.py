"""Balance sheet: reserves, the reverse-repo buffer, the Treasury's cash and who holds Treasuries."""

from __future__ import annotations

from ..dashboards import Dashboard, Panel, Row, signal

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
                        signal("reserves_usd_bn", legend="reserves (WRESBAL)"),
                        signal("onrrp_usd_bn", legend="ON RRP"),
                        signal("tga_usd_bn", legend="TGA (Wednesday)"),
                        signal("tga_daily_usd_bn", legend="TGA (daily statement)"),
                    ),
                    unit="currencyUSD",
                    description="Billions of USD. Runbooks ReserveScarcityNear, ReverseRepoBufferDepleted, "
                    "TGARebuildDrainingReserves.",
                    width=24,
                    height=10,
                ),
                Panel(
                    title="Changes of reserves and of the TGA",
                    queries=(
                        signal("reserves_weekly_change_usd_bn", legend="reserves, 1 week"),
                        signal("reserves_change_28d_usd_bn", legend="reserves, 4 weeks"),
                        signal("tga_change_28d_usd_bn", legend="TGA, 4 weeks"),
                    ),
                    kind="bars",
                    unit="currencyUSD",
                    description="Billions of USD. Runbooks ReservesFallingFast, TGARebuildDrainingReserves.",
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
                        signal("fed_treasuries_usd_bn", legend="Fed Treasuries (TREAST)"),
                        signal("fed_total_assets_usd_bn", legend="Fed total assets (WALCL)"),
                    ),
                    unit="currencyUSD",
                    description="Billions of USD: run-off (falling) versus bill purchases (rising).",
                ),
                Panel(
                    title="Banks: Treasury holdings against reserves",
                    queries=(
                        signal("bank_treasuries_usd_bn", legend="bank Treasuries and agencies (USGSEC)"),
                        signal("reserves_usd_bn", legend="reserves"),
                    ),
                    unit="currencyUSD",
                    description="Banks swapping cash for bonds, system-wide. Billions of USD.",
                ),
                Panel(
                    title="Bank Treasuries per dollar of reserves",
                    queries=(signal("bank_treasuries_to_reserves_ratio", legend="USGSEC / WRESBAL"),),
                    width=24,
                ),
            ),
        ),
    ),
)
