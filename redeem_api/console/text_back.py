"""Texts of the back-office pages (finance, customer service, fraud, audit, admin) in Chinese and English.

Merged into :data:`redeem_api.console.text.TEXT` (one catalogue for the templates).
"""
from __future__ import annotations

TEXT_BACK: dict[str, dict[str, str]] = {
    "zh": {
        "finance": "财务", "reconcile": "对账", "reports": "报表", "reversals": "冲正审批",
        "settlement_file": "渠道对账文件", "file_format": "文件格式", "upload": "上传并对账",
        "csv_report": "下载逐行对账 CSV（Excel 可直接打开）", "matched": "已匹配", "settled_now": "本次结算",
        "already_settled": "此前已结算", "amount_mismatch": "金额不符", "account_mismatch": "户号不符",
        "missing_in_books": "账簿中没有", "missing_in_file": "文件中没有", "period": "期间", "lines": "行数",
        "line": "行", "file_rejected": "文件被拒绝，未记任何一笔：",
        "report": "报表", "daily_close": "日结", "liability_report": "充值卡负债", "collection_report": "电费回收",
        "day": "日期", "as_of": "截至", "month": "月份", "show": "查看", "download_csv": "下载 CSV",
        "download_pdf": "下载 PDF", "balanced": "已平衡", "not_balanced": "不平衡", "money_in": "收款",
        "settled": "结算入行", "fees": "渠道手续费", "opening": "期初", "activated": "激活", "redeemed": "兑付",
        "expired": "过期", "voided": "作废", "closing": "期末", "books": "账簿", "differences": "差异",
        "active_count": "在用卡数", "cumulative_rate": "累计回收率", "audit_head": "审计链头",
        "propose_reversal": "申请冲正一笔缴费", "payment_id": "缴费编号", "or_channel_ref": "或：渠道 + 渠道流水号",
        "external_ref": "渠道流水号", "propose": "提交申请", "pending_requests": "待审批的冲正申请",
        "recent_requests": "最近的冲正申请", "requested_by": "申请人", "decided_by": "审批人", "request": "申请号",
        "confirm": "确认冲正", "two_person": "冲正需两人：财务申请，另一位审批人输入新的动态验证码确认。",
        "proposed": "冲正申请已提交，等待另一位审批人确认。", "confirmed": "已冲正。", "rejected_request": "已驳回。",
        "account": "户号",
    },
    "en": {
        "finance": "Finance", "reconcile": "Reconcile", "reports": "Reports", "reversals": "Reversals",
        "settlement_file": "Channel settlement file", "file_format": "File format", "upload": "Upload and reconcile",
        "csv_report": "Download the line-by-line CSV (opens in Excel)", "matched": "Matched",
        "settled_now": "Settled now", "already_settled": "Settled before", "amount_mismatch": "Amount differs",
        "account_mismatch": "Account differs", "missing_in_books": "Missing in the books",
        "missing_in_file": "Missing in the file", "period": "Period", "lines": "Lines", "line": "Line",
        "file_rejected": "The file was refused; nothing of it was booked:",
        "report": "Report", "daily_close": "Daily close", "liability_report": "Voucher liability",
        "collection_report": "Collection", "day": "Day", "as_of": "As of", "month": "Month", "show": "Show",
        "download_csv": "Download CSV", "download_pdf": "Download PDF", "balanced": "balanced",
        "not_balanced": "does not balance", "money_in": "Money in", "settled": "Settled", "fees": "Fees",
        "opening": "Opening", "activated": "Activated", "redeemed": "Redeemed", "expired": "Expired",
        "voided": "Voided", "closing": "Closing", "books": "Books", "differences": "Differences",
        "active_count": "Active cards", "cumulative_rate": "Cumulative rate", "audit_head": "Audit chain head",
        "propose_reversal": "Propose reversing a payment", "payment_id": "Payment id",
        "or_channel_ref": "or: channel + channel reference", "external_ref": "Channel reference",
        "propose": "Propose", "pending_requests": "Reversal requests waiting for approval",
        "recent_requests": "Recent reversal requests", "requested_by": "Requested by", "decided_by": "Decided by",
        "request": "Request", "confirm": "Confirm reversal",
        "two_person": "A reversal takes two people: finance proposes, a different approver confirms with a fresh "
                      "authenticator code.",
        "proposed": "Reversal proposed; a different approver must confirm it.", "confirmed": "Reversed.",
        "rejected_request": "Rejected.", "account": "Account",
    },
}
