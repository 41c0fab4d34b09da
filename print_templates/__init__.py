"""print_templates"""
