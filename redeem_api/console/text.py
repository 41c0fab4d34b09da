"""Texts of the staff console in Chinese (default) and English."""
from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN", "switch": "English", "console": "电费充值卡管理台",
        "login_title": "员工登录", "username": "用户名", "password": "密码", "totp": "动态验证码（6位）",
        "login": "登录", "logout": "退出", "login_failed": "用户名、密码或验证码不正确（或账号已停用）。",
        "throttled": "失败次数过多，请在 {seconds} 秒后再试。", "csrf_failed": "页面已过期，请刷新后重试。",
        "forbidden": "您的角色无权访问此页面。", "not_found": "未找到。", "error": "请求无法处理。",
        "dashboard": "总览", "batches": "批次", "customers": "客户查询", "distributor": "网点库存",
        "liability": "未兑付充值卡负债", "redemptions_today": "今日充值（按渠道）",
        "payments_today": "今日缴费（按渠道）", "channel": "渠道", "count": "笔数", "amount": "金额",
        "collection_rate": "本月回收率", "billed": "应收", "collected": "实收",
        "open_alerts": "近7天风控告警", "last_verify": "最近一次账簿校验", "never": "从未",
        "verify_ok": "通过", "verify_problems": "发现问题", "run_verify": "立即校验账簿",
        "last_checkpoint": "最近一次审计检查点", "none": "无",
        "batch": "批次号", "status": "状态", "face_value": "面值", "serials": "卡号范围",
        "created_by": "创建人", "approved_by": "审批人", "approve": "批准", "reject": "驳回",
        "reason": "原因", "step_up": "审批需输入新的动态验证码", "filter": "筛选", "all": "全部",
        "approved": "已批准", "rejected": "已驳回",
        "search": "户号、姓名或电表号", "find": "查询", "account_no": "户号", "name": "姓名", "meter": "电表号",
        "balance": "预付余额", "arrears": "欠费", "open_bills": "未结账单", "payments": "缴费记录",
        "redemptions": "充值卡充值记录", "no_results": "没有找到。", "due": "到期日", "outstanding": "未付",
        "serial": "卡号", "when": "时间", "stock": "本网点库存", "your_distributor": "网点",
        "data_as_of": "数据截至", "data_standby": "备库", "data_live": "主库实时", "data_lag": "延迟",
        "data_stale": "注意：报表备库落后主库 {lag} 秒，超过允许的 {max} 秒；以下数据可能不是最新的。",
    },
    "en": {
        "html_lang": "en", "switch": "中文", "console": "Voucher console",
        "login_title": "Staff sign-in", "username": "Username", "password": "Password",
        "totp": "Authenticator code (6 digits)", "login": "Sign in", "logout": "Sign out",
        "login_failed": "Wrong username, password or code (or the account is disabled).",
        "throttled": "Too many failed attempts: try again in {seconds} seconds.",
        "csrf_failed": "This page has expired: reload it and try again.",
        "forbidden": "Your role may not open this page.", "not_found": "Not found.",
        "error": "The request could not be processed.",
        "dashboard": "Dashboard", "batches": "Batches", "customers": "Customer lookup", "distributor": "Our stock",
        "liability": "Outstanding voucher liability", "redemptions_today": "Redemptions today by channel",
        "payments_today": "Payments today by channel", "channel": "Channel", "count": "Count", "amount": "Amount",
        "collection_rate": "Collection rate this month", "billed": "Billed", "collected": "Collected",
        "open_alerts": "Fraud alerts, last 7 days", "last_verify": "Last ledger verify", "never": "never",
        "verify_ok": "passed", "verify_problems": "problems found", "run_verify": "Verify the ledger now",
        "last_checkpoint": "Last audit checkpoint", "none": "none",
        "batch": "Batch", "status": "Status", "face_value": "Face value", "serials": "Serials",
        "created_by": "Created by", "approved_by": "Approved by", "approve": "Approve", "reject": "Reject",
        "reason": "Reason", "step_up": "A fresh authenticator code is needed to review", "filter": "Filter",
        "all": "all", "approved": "Approved", "rejected": "Rejected",
        "search": "Account number, name or meter", "find": "Find", "account_no": "Account", "name": "Name",
        "meter": "Meter", "balance": "Prepaid balance", "arrears": "Arrears", "open_bills": "Open bills",
        "payments": "Payments", "redemptions": "Voucher redemptions", "no_results": "Nothing found.",
        "due": "Due", "outstanding": "Outstanding", "serial": "Serial", "when": "When",
        "stock": "Our stock", "your_distributor": "Distributor",
        "data_as_of": "data as of", "data_standby": "standby", "data_live": "live", "data_lag": "lag",
        "data_stale": "Warning: the reports standby lags the primary by {lag} s, more than the {max} s allowed; "
                      "the figures below may be out of date.",
    },
}

from redeem_api.console.text_back import TEXT_BACK  # noqa: E402 - the back-office pages' texts
from redeem_api.console.text_issuer import ISSUER_TEXT  # noqa: E402 - the issuer's pages

for _extra in (ISSUER_TEXT, TEXT_BACK):  # one catalogue
    for _language, _texts in _extra.items():
        TEXT[_language].update(_texts)
