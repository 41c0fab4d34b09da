"""Texts of the customer page in Chinese (default) and English."""
from __future__ import annotations

LANGUAGES = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN",
        "title": "电费充值卡充值",
        "intro": "输入户号和充值卡上刮开的20位卡密，充值金额先抵扣欠费，余额计入预付电费。",
        "account_label": "户号",
        "account_hint": "电费账单上的户号（字母、数字）",
        "code_label": "卡密",
        "code_hint": "20位数字，可带空格或短横线",
        "submit": "下一步：核对户主",
        "confirm_title": "请核对户主信息",
        "confirm_intro": "为保护隐私，户主姓名和地址已部分隐去。确认是您要充值的户号后再点击“确认充值”；卡密在确认前不会被使用。",
        "holder": "户主",
        "district": "地址（区县）",
        "no_district": "未登记",
        "confirm": "确认充值",
        "not_mine": "不是这个户号，返回修改",
        "confirmation_expired": "确认页已过期，请重新填写户号和卡密。",
        "switch": "English",
        "success_title": "充值成功",
        "serial": "卡号",
        "amount": "充值金额",
        "applied_to_arrears": "抵扣欠费",
        "credited_to_balance": "计入余额",
        "balance": "当前余额",
        "credited_kwh": "本次充值可购电量",
        "available_balance": "可用余额（扣除欠费和本月预估电费）",
        "available_kwh": "可用余额可购电量",
        "kwh_note": "电量按您在当前阶梯电价周期中的位置估算（向下取整到0.01千瓦时），仅供参考，实际以抄表结算为准。",
        "kwh_note_peak": "您执行分时电价，电量按峰段电价估算（保守值），仅供参考，实际以抄表结算为准。",
        "again": "继续充值",
        "error_title": "未能充值",
        "invalid_voucher": "此充值卡无法使用：请核对卡密，或联系售卡网点。",
        "invalid_code_format": "卡密格式有误：应为20位数字，请重新输入。",
        "invalid_token": "此二维码不是有效的充值卡。",
        "unknown_account": "户号不存在，请核对后重试。",
        "validation_error": "请正确填写户号和卡密。",
        "too_many_attempts": "失败次数过多，请在 {seconds} 秒后再试。",
        "challenge_required": "您所在网络近期失败的尝试较多：页面正在进行安全验证，完成后请重新输入卡密并提交。",
        "pow_working": "正在进行安全验证，请稍候……",
        "pow_done": "安全验证已完成，可以提交。",
        "pow_noscript": "您所在网络近期失败的尝试较多，需要启用 JavaScript 完成安全验证后才能提交。",
        "csrf_failed": "页面已过期，请重新打开本页后再试。",
        "service_unavailable": "系统繁忙，请稍后再试。",
        "idempotency_in_flight": "您的上一次提交仍在处理中，请稍候刷新。",
        "balance_out_of_range": "此户号的余额已达系统上限，本次未充值。请联系客服热线 {hotline}。",
        "payload_too_large": "提交的内容过长，未能处理。请只填写户号和20位卡密，然后重新提交。",
        "unsupported_media_type": "提交方式不正确。请在本页的表单中填写户号和卡密，再点击“下一步”。",
        "idempotency_key_reused": "这张表单已经提交过其他户号或卡密。请在下面的新表单中重新填写并提交。",
        "default_error": "请求无法处理，请稍后再试。",
        "held_for_review": "充值卡已受理，正在审核中：审核通过后款项到账（编号 {hold_id}）。如有疑问请致电 {hotline}。",
        "footer": "请勿向任何人透露卡密。客服热线 {hotline}。",
    },
    "en": {
        "html_lang": "en",
        "title": "Recharge your electricity account",
        "intro": "Enter your account number and the 20-digit code under the scratch panel. "
                 "The money pays any arrears first; the rest becomes prepaid balance.",
        "account_label": "Account number",
        "account_hint": "As printed on your electricity bill (letters and digits)",
        "code_label": "Voucher code",
        "code_hint": "20 digits; spaces or dashes are fine",
        "submit": "Next: check the account holder",
        "confirm_title": "Check the account holder",
        "confirm_intro": "For privacy the holder's name and address are partly hidden. Press Confirm only if this "
                         "is the account you mean to recharge; the code is not used before you confirm.",
        "holder": "Account holder",
        "district": "Address (district)",
        "no_district": "not on record",
        "confirm": "Confirm and redeem",
        "not_mine": "Not this account: go back",
        "confirmation_expired": "This confirmation has expired: enter the account number and code again.",
        "switch": "中文",
        "success_title": "Recharge successful",
        "serial": "Card serial",
        "amount": "Amount",
        "applied_to_arrears": "Paid towards arrears",
        "credited_to_balance": "Added to balance",
        "balance": "New balance",
        "credited_kwh": "Energy this recharge buys",
        "available_balance": "Available balance (after arrears and this month's estimate)",
        "available_kwh": "Energy the available balance buys",
        "kwh_note": "kWh are estimated from where you stand in your tariff's tiers (rounded down to 0.01 kWh); "
                    "your bills follow the meter readings.",
        "kwh_note_peak": "You are billed by time of use: kWh are estimated at the peak price (a conservative "
                         "figure); your bills follow the meter readings.",
        "again": "Redeem another card",
        "error_title": "Not redeemed",
        "invalid_voucher": "This voucher cannot be redeemed: check the code, or ask the seller.",
        "invalid_code_format": "That code is not valid: it has 20 digits; please re-type it.",
        "invalid_token": "This QR code is not a valid voucher.",
        "unknown_account": "There is no account with that number; please check it.",
        "validation_error": "Please fill in your account number and the voucher code.",
        "too_many_attempts": "Too many failed attempts: try again in {seconds} seconds.",
        "challenge_required": "Many failed attempts came from your network recently: this page is running a "
                              "security check; when it is done, enter the code again and submit.",
        "pow_working": "Running a security check, please wait...",
        "pow_done": "Security check done: you can submit.",
        "pow_noscript": "Many failed attempts came from your network recently: enable JavaScript so the page can "
                        "run its security check before you submit.",
        "csrf_failed": "This page has expired: open it again and retry.",
        "service_unavailable": "The service is busy; please try again shortly.",
        "idempotency_in_flight": "Your previous submission is still being processed; reload in a moment.",
        "balance_out_of_range": "This account's balance is at the system's limit; nothing was recharged. "
                                "Please call customer service: {hotline}.",
        "payload_too_large": "What was sent is too long to process. Enter only your account number and the "
                             "20-digit code, then submit again.",
        "unsupported_media_type": "That was not sent from this page's form. Fill in your account number and "
                                  "code in the form below and press Next.",
        "idempotency_key_reused": "This form was already submitted with another account number or code. "
                                  "Fill in the fresh form below and submit again.",
        "default_error": "The request could not be processed; please try again later.",
        "held_for_review": "Your voucher was accepted and is under review: the money reaches the account once "
                           "the review is done (reference {hold_id}). Questions: {hotline}.",
        "footer": "Never tell anyone your voucher code. Customer service: {hotline}.",
    },
}


def pick_language(requested: str | None, accept_language: str | None) -> str:
    if requested in LANGUAGES:
        return requested  # type: ignore[return-value]
    header = (accept_language or "").lower()
    first = header.split(",")[0].strip()
    return "en" if first.startswith("en") else "zh"
